import Foundation
public import Logging

/// Loggers of work no request drives: each pass of a background job gets its own id
/// (`job`, `job_id`), as a request has its `request_id`, so one grep shows the whole pass.
public enum BackgroundJobLogger {
    /// A copy of `base` with a fresh `job_id` for one pass of `job`.
    public static func make(_ base: Logger, job: String) -> Logger {
        var logger = base
        logger[metadataKey: "job"] = .string(job)
        logger[metadataKey: "job_id"] = .string(UUID().uuidString.lowercased())
        return logger
    }
}
