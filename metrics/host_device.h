/*
 * host_device.h: private. SA_HOST_DEVICE marks the functions that the CPU engine
 * and the CUDA kernels share (edt_line.h, exact_sum.h, percentile_rule.h,
 * staple_em.h): `__host__ __device__` under nvcc, nothing in plain C.
 */
#ifndef SEGARENA_HOST_DEVICE_H
#define SEGARENA_HOST_DEVICE_H

#ifdef __CUDACC__
#define SA_HOST_DEVICE __host__ __device__
#else
#define SA_HOST_DEVICE
#endif

#endif
