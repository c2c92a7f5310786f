/*
 * Inner loops of the k-means kernels for 1 to 4 features, on a structure-of-arrays
 * chunk (feature j of sample i at xT[j * st + i]).  As in gmm_small.h, each entry point
 * calls a body with a literal feature count, so the compiler keeps a sample in
 * registers and vectorises over samples; the float and double versions are one source,
 * kmeans_small_impl.h, included once per type (see template.h).
 *
 * assign:    best[i] = min_k ||x_i - c_k||^2 and lab[i] = its argmin (first minimum
 *            wins, as in scikit-learn).
 * sums:      o[k*(d+1)] += count of lab == k, o[k*(d+1)+1+j] += sum of x_j over it: per
 *            component, the 0/1 indicator times x (no scatter; written as a product
 *            because GCC turned the conditional form into masked loads and blends).
 * potential: returns sum_i min(closest[i], ||x_i - c||^2); with update, also stores
 *            that minimum into closest.
 */
#ifndef GMMFAST_KMEANS_SMALL_H
#define GMMFAST_KMEANS_SMALL_H

#include <stddef.h>
#include <stdint.h>
#include "template.h"

#define KMS_T float
#define KMS_SUF f32
#include "kmeans_small_impl.h"
#define KMS_T double
#define KMS_SUF f64
#include "kmeans_small_impl.h"

#endif
