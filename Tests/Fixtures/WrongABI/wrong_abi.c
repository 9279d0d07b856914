// A function library built for an ABI the host does not speak: the host must refuse to load it.
#include <stdint.h>

uint32_t swiftfunc_abi_version(void) { return 999; }

int32_t run(const void *event, const void *context) { (void)event; (void)context; return 0; }
