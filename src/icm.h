/*
 * The byte-parallel skip test of the ICM in _imagekernels.pyx (potts_icm), for uint8 and
 * uint16 labels: icm_impl.h, included once per label type (see template.h).
 */
#ifndef GMMFAST_ICM_H
#define GMMFAST_ICM_H

#include <stddef.h>
#include <stdint.h>
#include "template.h"

#define ICM_LABEL uint8_t
#define ICM_SUF u8
#include "icm_impl.h"
#define ICM_LABEL uint16_t
#define ICM_SUF u16
#include "icm_impl.h"

#endif
