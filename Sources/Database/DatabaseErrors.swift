import PostgresNIO
public import StorageCore

/// Maps Postgres failures to the storage error catalogue (spec §3.2).
public enum DatabaseErrors {
    /// Translates any error thrown while talking to Postgres. Storage errors pass through.
    public static func map(_ error: any Error) -> StorageError {
        if let error = error as? StorageError { return error }
        if let error = error as? PSQLError {
            return map(error)
        }
        if error is CancellationError {
            return .aborted
        }
        // Pool errors (circuit breaker open, pool shut down) mean Postgres cannot be reached.
        return .databaseError("The database is unavailable: \(String(describing: error))")
    }

    static func map(_ error: PSQLError) -> StorageError {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else {
            return .databaseError("The database is unavailable (\(error.code))")
        }
        let message = error.serverInfo?[.message] ?? "database error"
        switch state {
        case "42501":
            // Upstream's text, whatever table the policy guards.
            return .accessDenied(message.contains("row-level security") ? "new row violates row-level security policy" : message)
        case "23505":
            return .resourceAlreadyExists
        case "23503":
            if message.contains("still referenced") || (error.serverInfo?[.detail] ?? "").contains("still referenced") {
                return .resourceReferenced()
            }
            return .relatedResourceMissing()
        case "55P03":
            return .lockTimeout
        case "57014":
            return .databaseTimeout
        case "25006":
            return .databaseReadOnly()
        case "22P02", "22021", "22P05", "22003":
            // Malformed input text, characters Postgres cannot store (NUL in a prefix, a
            // `\u0000` escape in metadata) and numbers beyond a column's range (a list offset
            // over 2^31): the caller's input, not a server fault.
            return .invalidParameter(message)
        case "22023" where message.hasPrefix("role "):
            // A signed JWT naming a role the database does not have: the caller's fault, not ours.
            return .accessDenied(message)
        case "42703", "42P01":
            return .databaseSchemaMismatch(message)
        case "53300":
            return .slowDown
        default:
            return .databaseError(message)
        }
    }
}
