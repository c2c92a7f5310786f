/*
 * How the kernels' C code is specialised for a type (float, double, uint8 pixels, ...)
 * and for small sizes (1-4 features or channels, up to 8 components).
 *
 * Types: the code is written once in a header named *_impl.h, with a few names
 * (the type, a suffix for the function names, sometimes a size) that the including
 * header #defines before each #include and the *_impl.h file #undefs at its end;
 * bk.h / bk_impl.h, gmm_small.h / gmm_small_impl.h and the others follow it.  This
 * was chosen over multi-line macros that expand to whole functions (what most headers
 * used before: compiler messages pointed at the macro's call, and a debugger could not
 * step through the body) and over generated sources (Tempita templates, as
 * scikit-learn uses for its .pyx files: a build step, and messages point at the
 * generated file): the code is plain C at its real line numbers, and nothing is
 * generated.
 *
 * Sizes: where the compiler must see a size as a literal to unroll a loop into
 * registers, the size is a `const int` parameter of an always-inlined function,
 * and the entry point calls it with each literal (GMMFAST_LITERAL_1TO4 or a switch).
 */
#ifndef GMMFAST_TEMPLATE_H
#define GMMFAST_TEMPLATE_H

/* name_suffix, after suffix's own expansion (for FN(name) in the *_impl.h files) */
#define GMMFAST_PASTE_(name, suffix) name##_##suffix
#define GMMFAST_NAME(name, suffix) GMMFAST_PASTE_(name, suffix)

/* f(args..., n) with n as a literal 1, 2, 3 or 4 (any other n: 4) */
#define GMMFAST_LITERAL_1TO4(n, f, ...) ((n) == 1 ? f(__VA_ARGS__, 1) : (n) == 2 ? f(__VA_ARGS__, 2) : (n) == 3 ? f(__VA_ARGS__, 3) : f(__VA_ARGS__, 4))

#if defined(__GNUC__)
#define GMMFAST_INLINE static inline __attribute__((always_inline))
#else
#define GMMFAST_INLINE static inline
#endif

#endif
