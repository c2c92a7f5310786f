# cython: language_level=3
"""Which threads took part in a module's parallel loops (team.h), for the thread tests."""

cdef extern from "team.h" nogil:
    void _team_reset "gmmfast_team_reset"()
    void _team_mark "gmmfast_team_mark"()
    int _team_count "gmmfast_team_count"()
