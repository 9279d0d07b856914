/*
 * A swiftfunc function in plain C: cardinality ONE, dataType string, ABI version 2. Greets whoever
 * the message names, through the host's log, with the word in its "greeting" header when it has
 * one (the host parses headers only because the function asks). Build it with a C compiler,
 * nothing else:
 *
 *   cc -shared -fPIC -O2 -I Sources/FunctionABI/include -o functions/CGreeter/libCGreeter.so Examples/CGreeter/greeter.c
 */
#include <stdio.h>
#include <swiftfunc.h>

uint32_t swiftfunc_abi_version(void) { return SWIFTFUNC_ABI_VERSION; }

/* Lets the host check function.json against this entry point when it loads the library. */
const char *swiftfunc_signature_run(void) { return "trigger=one outputs=0"; }

int32_t run(const sf_event *event, const sf_context *context) {
    /* Text from the host is not NUL-terminated: print it with its length. */
    const sf_header *greeting = context->header(context, event, "greeting", 8);
    int word_length = greeting && greeting->value ? (int)greeting->value_length : 5;
    const char *word = greeting && greeting->value ? (const char *)greeting->value : "Hello";
    char line[512];
    /* A null value greets nobody. */
    int length = event->value
        ? snprintf(line, sizeof line, "%.*s from C, %.*s!", word_length, word, (int)event->value_length, (const char *)event->value)
        : snprintf(line, sizeof line, "%.*s from C, nobody!", word_length, word);
    if (length < 0) return SF_ERROR;
    context->log(context, SF_LOG_INFO, line, (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
    return SF_OK;
}
