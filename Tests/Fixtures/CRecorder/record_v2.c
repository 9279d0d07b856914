/* The C Recorder built for ABI version 2 (the default): headers come from the context. */
#include "recorder.c"
