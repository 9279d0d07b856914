#ifndef SWIFTFUNC_CFFI_SHIM_H
#define SWIFTFUNC_CFFI_SHIM_H
#include <ffi.h>

// libffi's ffi_type_* are mutable C globals; Swift 6 refuses to take their address as shared
// mutable state, so these accessors hand out the pointers instead.
static inline ffi_type *cffi_type_pointer(void) { return &ffi_type_pointer; }
static inline ffi_type *cffi_type_sint32(void) { return &ffi_type_sint32; }
static inline ffi_type *cffi_type_uint64(void) { return &ffi_type_uint64; }
static inline ffi_abi cffi_default_abi(void) { return FFI_DEFAULT_ABI; }
#endif
