/*
 * What the C controls of make bench (raw_consumer.c, raw_pipeline.c) share: stopping on a
 * signal, the monotonic clock their results are timed with, setting a property or exiting with
 * its name, and taking what a queue holds the way the host does.
 * RAW_NAME, defined before this is included, names the program in its error messages.
 */
#ifndef RAW_COMMON_H
#define RAW_COMMON_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BATCH 1000
#define MAX_PARTITIONS 1024

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* SIGTERM and SIGINT end the main loop; the program then commits and leaves its group. */
static void stop_on_signals(void) {
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char error[512];
    if (rd_kafka_conf_set(conf, name, value, error, sizeof error) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, RAW_NAME ": %s=%s: %s\n", name, value, error);
        exit(2);
    }
}

/* What is already in the queue, up to `size` messages, without waiting; when nothing is, waits
 * up to 100 ms for the first one. (Asked for `size` with a timeout, librdkafka would wait until
 * that many are there or the time is up; the host does not wait either.) */
static ssize_t take(rd_kafka_queue_t *queue, rd_kafka_message_t **messages, size_t size) {
    ssize_t count = rd_kafka_consume_batch_queue(queue, 0, messages, size);
    if (count == 0) {
        count = rd_kafka_consume_batch_queue(queue, 100, messages, 1);
        if (count == 1) {
            ssize_t more = rd_kafka_consume_batch_queue(queue, 0, messages + 1, size - 1);
            if (more > 0) count += more;
        }
    }
    return count;
}

#endif
