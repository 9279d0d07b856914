/*
 * raw_consumer: the physical limit the host is measured against. A minimal librdkafka
 * high-level consumer that does nothing with a message but store its offset, with the same
 * delivery contract as the host: enable.auto.offset.store=false, an offset is stored once its
 * message is handled, and librdkafka's auto commit commits what is stored.
 *
 * usage: raw_consumer BOOTSTRAP TOPIC GROUP EXPECTED RESULT_FILE [poll|batch|latency] [NAME=VALUE...]
 *   poll:    rd_kafka_consumer_poll, one message at a time, rd_kafka_offset_store per message.
 *   batch:   rd_kafka_consume_batch_queue (up to 1000 at a time, what is already there; when
 *            nothing is, it waits up to 100 ms for one message), then one rd_kafka_offsets_store
 *            per batch with each partition's last offset + 1. (Asked for 1000 with a timeout,
 *            librdkafka waits until 1000 are there or the time is up; the host does not wait
 *            either.)
 *   latency: batch, and per message the time from its CreateTime to when it is handled.
 * poll and batch write "FIRST_NS LAST_NS COUNT" (CLOCK_MONOTONIC: the first message delivered,
 * the EXPECTED-th) to RESULT_FILE once EXPECTED messages were consumed, then keep running until
 * SIGTERM or SIGINT, when they commit, leave the group and exit.
 * latency ignores EXPECTED. Like the host's latency_one (bench/NoopSwift), it creates the file
 * $BENCH_READY at its first message and, at exit, writes one "TIMESTAMP_MS LATENCY_US" line per
 * message to RESULT_FILE (CreateTime, and CLOCK_REALTIME now - CreateTime; CreateTime has
 * millisecond resolution, so each latency is overstated by up to 1 ms).
 * NAME=VALUE: more librdkafka properties, set after (over) the ones below.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RAW_NAME "raw_consumer"
#include "raw_common.h"

static long long first_ns = 0, last_ns = 0, consumed = 0, expected = 0;
static const char *result_path;

/* Called when a fetch brings messages, before they are handled. */
static void arrived(void) {
    if (first_ns == 0) first_ns = now_ns();
}

/* Called once n messages are handled (their offsets stored). */
static void counted(long long n) {
    consumed += n;
    if (consumed >= expected && last_ns == 0) {
        last_ns = now_ns();
        FILE *file = fopen(result_path, "w");
        if (file) {
            fprintf(file, "%lld %lld %lld\n", first_ns, last_ns, consumed);
            fclose(file);
        }
    }
}


/* latency mode: one sample per message, written at exit. */
#define MAX_SAMPLES 4000000
static long long (*samples)[2];
static long samples_count = 0;

static void record_latency(const rd_kafka_message_t *message) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    rd_kafka_timestamp_type_t type;
    int64_t timestamp = rd_kafka_message_timestamp(message, &type);
    if (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) return;
    if (!samples) {
        samples = malloc(sizeof *samples * MAX_SAMPLES);
        if (!samples) {
            fprintf(stderr, "raw_consumer: out of memory\n");
            exit(1);
        }
        const char *ready = getenv("BENCH_READY");
        if (ready) close(open(ready, O_CREAT | O_WRONLY, 0644));
    }
    if (samples_count >= MAX_SAMPLES) return;
    samples[samples_count][0] = timestamp;
    samples[samples_count][1] = (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000 - timestamp * 1000;
    samples_count++;
}

static void write_latencies(void) {
    FILE *file = fopen(result_path, "w");
    if (!file) {
        fprintf(stderr, "raw_consumer: cannot write %s\n", result_path);
        return;
    }
    for (long i = 0; i < samples_count; i++) fprintf(file, "%lld %lld\n", samples[i][0], samples[i][1]);
    fclose(file);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC GROUP EXPECTED RESULT_FILE [poll|batch|latency] [NAME=VALUE...]\n", argv[0]);
        return 2;
    }
    const char *topic = argv[2];
    expected = atoll(argv[4]);
    result_path = argv[5];
    int latency_mode = argc > 6 && strcmp(argv[6], "latency") == 0;
    int batch_mode = latency_mode || (argc > 6 && strcmp(argv[6], "batch") == 0);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "group.id", argv[3]);
    set(conf, "enable.auto.commit", "true");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "auto.commit.interval.ms", "200"); /* the host's default (host.json autoCommitIntervalMs) */
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "enable.partition.eof", "false");
    for (int i = 7; i < argc; i++) {
        char *equals = strchr(argv[i], '=');
        if (!equals) {
            fprintf(stderr, "raw_consumer: '%s' is not NAME=VALUE\n", argv[i]);
            return 2;
        }
        *equals = '\0';
        set(conf, argv[i], equals + 1);
    }
    char error[512];
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
    if (!consumer) {
        fprintf(stderr, "raw_consumer: %s\n", error);
        return 2;
    }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        fprintf(stderr, "raw_consumer: subscribe: %s\n", rd_kafka_err2str(err));
        return 2;
    }
    stop_on_signals();

    if (!batch_mode) {
        while (!stop_requested) {
            rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 100);
            if (!message) continue;
            if (!message->err) {
                arrived();
                rd_kafka_offset_store(message->rkt, message->partition, message->offset);
                counted(1);
            }
            rd_kafka_message_destroy(message);
        }
    } else {
        rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);
        rd_kafka_message_t *messages[BATCH];
        static int64_t next_offset[MAX_PARTITIONS];
        memset(next_offset, 0xff, sizeof next_offset); /* -1: nothing to store */
        while (!stop_requested) {
            ssize_t count = take(queue, messages, BATCH);
            if (count <= 0) continue;
            arrived();
            long long handled = 0;
            for (ssize_t i = 0; i < count; i++) {
                rd_kafka_message_t *message = messages[i];
                if (!message->err && message->partition < MAX_PARTITIONS) {
                    if (latency_mode) record_latency(message);
                    next_offset[message->partition] = message->offset + 1;
                    handled++;
                }
            }
            rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(16);
            for (int p = 0; p < MAX_PARTITIONS; p++) {
                if (next_offset[p] < 0) continue;
                rd_kafka_topic_partition_list_add(offsets, topic, p)->offset = next_offset[p];
                next_offset[p] = -1;
            }
            rd_kafka_offsets_store(consumer, offsets);
            rd_kafka_topic_partition_list_destroy(offsets);
            for (ssize_t i = 0; i < count; i++) rd_kafka_message_destroy(messages[i]);
            if (!latency_mode) counted(handled);
        }
        rd_kafka_queue_destroy(queue);
    }
    if (latency_mode) write_latencies();

    err = rd_kafka_commit(consumer, NULL, 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) fprintf(stderr, "raw_consumer: commit: %s\n", rd_kafka_err2str(err));
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return 0;
}
