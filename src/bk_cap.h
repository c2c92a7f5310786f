/* Included by bk.h once per capacity type (BK_DOUBLE 0 or 1): the solver for 4- and
   8-neighbour grids and for CSR graphs of that type, from bk_impl.h. */
#define BK_DIRS 4
#include "bk_impl.h"
#define BK_DIRS 8
#include "bk_impl.h"
#define BK_DIRS 0
#include "bk_impl.h"
#undef BK_DOUBLE
