/// Every metric family `/metrics` serves, with its `# HELP` text: one list, so no family goes out
/// without one (``MetricsPublisher`` refuses a name that is not here) and README's metric table
/// has one place to be checked against.
///
/// Label values are lower case words joined by hyphens (`partially-failed`, `invalid-utf8`,
/// `failed-to-load`), as the dead-letter headers and the health file already write them; metric
/// and label names are Prometheus' snake_case.
enum MetricFamilies {
    static let help: [String: String] = [
        // Per function
        "swiftfunc_function_up": "1 while the function is loaded and its consumer runs (paused included), 0 when it failed to load or is disabled.",
        "swiftfunc_function_state": "1 for the function's current state (running, draining, paused, disabled, failed-to-load), 0 for the others.",
        "swiftfunc_cluster_reachable": "1 when the function's consumer reached its Kafka cluster at the last health probe (every 5 s), else 0.",
        "swiftfunc_invocations_total": "Calls of the function (retries included), by outcome.",
        "swiftfunc_invocations_in_flight": "Calls of the function in progress now (one per concurrency lane at most).",
        "swiftfunc_invocation_duration_seconds": "Call time, output deliveries included.",
        "swiftfunc_batch_size": "Events per call of a MANY function.",
        "swiftfunc_messages_consumed_total": "Messages taken from librdkafka.",
        "swiftfunc_retries_total": "Retry attempts.",
        "swiftfunc_dead_lettered_total": "Messages delivered to the dead-letter topic, by reason.",
        "swiftfunc_dead_letter_write_failures_total": "Messages whose write to the dead-letter topic failed (each is tried again; its offset does not move past it).",
        "swiftfunc_offset_commit_failures_total": "Offset commits the consumer group refused or that failed.",
        "swiftfunc_crashes_total": "Worker crashes (or functionTimeout stops) with this function's messages in flight, since swiftfunc start.",
        "swiftfunc_output_records_total": "Records sent through output bindings, by result.",
        "swiftfunc_consumer_lag": "Per assigned partition: the high watermark minus the next offset to commit.",
        "swiftfunc_paused_partitions": "Partitions paused: held for a retry, backpressure, or an operator's pause.",
        "swiftfunc_rebalances_total": "Rebalance events (assignments and revocations).",
        "swiftfunc_group_generation": "The consumer's generation in its group (classic protocol) or its member epoch (consumer protocol), once joined.",
        "swiftfunc_messages_not_invoked_total": "Messages settled without a call (and so without an invocation span), by reason: filtered (matched none of the trigger's filters) or before-start-from. Refused ones (too old, undecodable) are counted in swiftfunc_dead_lettered_total.",
        "swiftfunc_trace_spans_over_limit_total": "Invocations the sampler chose that were not recorded as spans because the function reached swiftfunc.tracing.maxSpansPerSecond; their trace context was still handed on.",
        "swiftfunc_trace_context_malformed_total": "Records whose traceparent header is not a valid W3C trace context, seen by a function that traces: ignored, their invocation started a new trace.",
        // The host
        "swiftfunc_worker_restarts_total": "Times the supervisor restarted the worker since swiftfunc start.",
        "swiftfunc_uptime_seconds": "Seconds since this worker started.",
        "swiftfunc_build_info": "Always 1: the swiftfunc version, the librdkafka version loaded and the Swift language version.",
        // The process (the names every Prometheus client library uses)
        "process_resident_memory_bytes": "Resident memory size in bytes.",
        "process_virtual_memory_bytes": "Virtual memory size in bytes.",
        "process_cpu_seconds_total": "Total user and system CPU time spent in seconds.",
        "process_open_fds": "Number of open file descriptors.",
        "process_max_fds": "Maximum number of open file descriptors.",
        "process_start_time_seconds": "Start time of the process since unix epoch in seconds.",
    ]

    /// The help text of `name`; a family missing here is a programming error.
    static func helpText(_ name: String) -> String {
        guard let text = help[name] else { preconditionFailure("metric family \(name) has no HELP text in MetricFamilies") }
        return text
    }
}
