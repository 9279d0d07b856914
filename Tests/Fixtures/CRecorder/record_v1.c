/* The C Recorder built for ABI version 1: the event carries its headers. */
#define SWIFTFUNC_ABI_VERSION 1
#include "recorder.c"
