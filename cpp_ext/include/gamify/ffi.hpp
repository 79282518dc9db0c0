// XLA FFI handlers: the tensor game's kernels called by XLA inside compiled JAX code (CPU),
// with no Python and no GIL. Registered from Python by gamify.native (jax.ffi).
//
// Every handler takes batched inputs: leading dimensions (vmap's, with
// vmap_method="broadcast_all") are a batch, the trailing ones the tensor (I, J, K) or the
// factors (I), (J), (K). int8 tensors are over Z2 (entries 0/1), int32 tensors over Z.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gamify/tensor.hpp"
#include "xla/ffi/api/ffi.h"

namespace gamify::ffi {

namespace xffi = ::xla::ffi;

// (batch, shape) from a buffer's dimensions [..., I, J, K], or an error.
inline xffi::Error tensor_dims(xffi::AnyBuffer::Dimensions dims, std::size_t* batch, tensor::Shape* shape) {
  if (dims.size() < 3) return xffi::Error::InvalidArgument("gamify: a tensor needs 3 dimensions");
  const std::size_t rank = dims.size();
  *shape = {static_cast<std::size_t>(dims[rank - 3]), static_cast<std::size_t>(dims[rank - 2]),
            static_cast<std::size_t>(dims[rank - 1])};
  if (!shape->valid()) return xffi::Error::InvalidArgument("gamify: tensor dimensions must be in [1, 64]");
  *batch = 1;
  for (std::size_t d = 0; d + 3 < rank; ++d) *batch *= static_cast<std::size_t>(dims[d]);
  return xffi::Error::Success();
}

template <xffi::DataType D>
xffi::Error bound(xffi::Buffer<D> residual, xffi::ResultBuffer<xffi::S32> out) {
  std::size_t batch;
  tensor::Shape shape;
  if (auto error = tensor_dims(residual.dimensions(), &batch, &shape); error.failure()) return error;
  int32_t* bounds = out->typed_data();
  for (std::size_t b = 0; b < batch; ++b) {
    bounds[b] = tensor::slice_rank_bound(residual.typed_data() + b * shape.size(), shape, D == xffi::S8);
  }
  return xffi::Error::Success();
}

// One move for a batch: residual - u (x) v (x) w (mod 2 over Z2), and the new residual's bound.
template <xffi::DataType D>
xffi::Error step(xffi::Buffer<D> residual, xffi::Buffer<D> u, xffi::Buffer<D> v, xffi::Buffer<D> w,
                 xffi::ResultBuffer<D> next, xffi::ResultBuffer<xffi::S32> out) {
  std::size_t batch;
  tensor::Shape shape;
  if (auto error = tensor_dims(residual.dimensions(), &batch, &shape); error.failure()) return error;
  if (u.element_count() != batch * shape.i || v.element_count() != batch * shape.j ||
      w.element_count() != batch * shape.k) {
    return xffi::Error::InvalidArgument("gamify: factors do not match the tensor's shape");
  }
  auto* result = next->typed_data();
  int32_t* bounds = out->typed_data();
  for (std::size_t b = 0; b < batch; ++b) {
    auto* t = result + b * shape.size();
    tensor::subtract_term(residual.typed_data() + b * shape.size(), u.typed_data() + b * shape.i,
                          v.typed_data() + b * shape.j, w.typed_data() + b * shape.k, shape, D == xffi::S8, t);
    bounds[b] = tensor::slice_rank_bound(t, shape, D == xffi::S8);
  }
  return xffi::Error::Success();
}

inline xffi::Error bound_z2(xffi::Buffer<xffi::S8> residual, xffi::ResultBuffer<xffi::S32> out) {
  return bound<xffi::S8>(residual, out);
}
inline xffi::Error bound_z(xffi::Buffer<xffi::S32> residual, xffi::ResultBuffer<xffi::S32> out) {
  return bound<xffi::S32>(residual, out);
}
inline xffi::Error step_z2(xffi::Buffer<xffi::S8> residual, xffi::Buffer<xffi::S8> u, xffi::Buffer<xffi::S8> v,
                           xffi::Buffer<xffi::S8> w, xffi::ResultBuffer<xffi::S8> next,
                           xffi::ResultBuffer<xffi::S32> out) {
  return step<xffi::S8>(residual, u, v, w, next, out);
}
inline xffi::Error step_z(xffi::Buffer<xffi::S32> residual, xffi::Buffer<xffi::S32> u, xffi::Buffer<xffi::S32> v,
                          xffi::Buffer<xffi::S32> w, xffi::ResultBuffer<xffi::S32> next,
                          xffi::ResultBuffer<xffi::S32> out) {
  return step<xffi::S32>(residual, u, v, w, next, out);
}

// A host kernel supplied at run time as a C function pointer (e.g. a numba cfunc):
// fn(in, out, batch) over `batch` items; the batch is the product of the input's leading
// dimensions before its last `item_rank` ones. The pointer comes as an int64 attribute.
using HostKernel = void (*)(const void* in, void* out, int64_t batch);

inline xffi::Error host_kernel(xffi::AnyBuffer in, xffi::Result<xffi::AnyBuffer> out, int64_t fn,
                               int64_t item_rank) {
  const auto dims = in.dimensions();
  if (fn == 0 || item_rank < 0 || static_cast<std::size_t>(item_rank) > dims.size()) {
    return xffi::Error::InvalidArgument("gamify: bad host kernel call");
  }
  int64_t batch = 1;
  for (std::size_t d = 0; d + item_rank < dims.size(); ++d) batch *= dims[d];
  reinterpret_cast<HostKernel>(fn)(in.untyped_data(), out->untyped_data(), batch);
  return xffi::Error::Success();
}

}  // namespace gamify::ffi

XLA_FFI_DEFINE_HANDLER_SYMBOL(GamifyBoundZ2, gamify::ffi::bound_z2,
                              ::xla::ffi::Ffi::Bind()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S8>>()
                                  .Ret<::xla::ffi::Buffer<::xla::ffi::S32>>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(GamifyBoundZ, gamify::ffi::bound_z,
                              ::xla::ffi::Ffi::Bind()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S32>>()
                                  .Ret<::xla::ffi::Buffer<::xla::ffi::S32>>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(GamifyStepZ2, gamify::ffi::step_z2,
                              ::xla::ffi::Ffi::Bind()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S8>>()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S8>>()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S8>>()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S8>>()
                                  .Ret<::xla::ffi::Buffer<::xla::ffi::S8>>()
                                  .Ret<::xla::ffi::Buffer<::xla::ffi::S32>>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(GamifyStepZ, gamify::ffi::step_z,
                              ::xla::ffi::Ffi::Bind()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S32>>()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S32>>()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S32>>()
                                  .Arg<::xla::ffi::Buffer<::xla::ffi::S32>>()
                                  .Ret<::xla::ffi::Buffer<::xla::ffi::S32>>()
                                  .Ret<::xla::ffi::Buffer<::xla::ffi::S32>>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(GamifyHostKernel, gamify::ffi::host_kernel,
                              ::xla::ffi::Ffi::Bind()
                                  .Arg<::xla::ffi::AnyBuffer>()
                                  .Ret<::xla::ffi::AnyBuffer>()
                                  .Attr<int64_t>("fn")
                                  .Attr<int64_t>("item_rank"));
