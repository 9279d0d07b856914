/*
 * mock_cluster: librdkafka's mock cluster with several brokers, for bench/run.py --brokers N
 * (`swiftfunc broker` has one). Partition leaders are spread over the brokers, so each broker
 * thread of a consumer fetches its own share, as against a real cluster.
 *
 * usage: mock_cluster BROKERS PARTITIONS TOPIC...
 * Prints the bootstrap servers as the first line on standard output, then runs until SIGTERM
 * or SIGINT. Like `swiftfunc broker`, it keeps only about 5 MB per partition.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s BROKERS PARTITIONS TOPIC...\n", argv[0]);
        return 2;
    }
    int brokers = atoi(argv[1]), partitions = atoi(argv[2]);
    /* SIGTERM and SIGINT stay blocked except in sigsuspend below: librdkafka's threads inherit
     * the mask, so the signal reaches the waiting main thread, and none slips in between the
     * check and the wait. */
    sigset_t stop_signals, waiting;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, &waiting);
    char error[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "4", error, sizeof error) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mock_cluster: %s\n", error);
        return 2;
    }
    /* The mock cluster needs a client instance to own it; a producer that never produces. */
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (!owner) {
        fprintf(stderr, "mock_cluster: %s\n", error);
        return 2;
    }
    rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(owner, brokers);
    if (!cluster) {
        fprintf(stderr, "mock_cluster: could not start a mock cluster of %d brokers\n", brokers);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, argv[i], partitions, 1);
        if (err) {
            fprintf(stderr, "mock_cluster: topic %s: %s\n", argv[i], rd_kafka_err2str(err));
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    fflush(stdout);
    fprintf(stderr, "mock_cluster: %d brokers, %d partitions per topic\n", brokers, partitions);
    while (!stop_requested) sigsuspend(&waiting);
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(owner);
    return 0;
}
