/*
 * A swiftfunc function in plain C: cardinality ONE, dataType string. Greets whoever the message
 * names, through the host's log. Build it with a C compiler, nothing else:
 *
 *   cc -shared -fPIC -O2 -I Sources/FunctionABI/include -o functions/CGreeter/libCGreeter.so Examples/CGreeter/greeter.c
 */
#include <stdio.h>
#include <swiftfunc.h>

uint32_t swiftfunc_abi_version(void) { return SWIFTFUNC_ABI_VERSION; }

/* Lets the host check function.json against this entry point when it loads the library. */
const char *swiftfunc_signature_run(void) { return "trigger=one outputs=0"; }

int32_t run(const sf_event *event, const sf_context *context) {
    char line[512];
    /* The value is not NUL-terminated: print it with its length. A null value greets nobody. */
    int length = event->value
        ? snprintf(line, sizeof line, "Hello from C, %.*s!", (int)event->value_length, (const char *)event->value)
        : snprintf(line, sizeof line, "Hello from C, nobody!");
    if (length < 0) return SF_ERROR;
    context->log(context, SF_LOG_INFO, line, (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
    return SF_OK;
}
