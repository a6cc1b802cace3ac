import PostgresNIO
public import StorageCore

/// Maps Postgres failures to the storage error catalogue (contract §3.2).
public enum DatabaseErrors {
    /// Translates any error thrown while talking to Postgres. Storage errors pass through.
    ///
    /// Messages name the failure in the catalogue's words; Postgres' own text (table and column
    /// names, SQL, host names) stays in the error's `underlying` cause, for the log.
    public static func map(_ error: any Error) -> StorageError {
        if let error = error as? StorageError { return error }
        if let error = error as? PSQLError {
            return map(error).causedBy(error)
        }
        if error is CancellationError {
            return .aborted
        }
        // Pool errors (circuit breaker open, pool shut down) mean Postgres cannot be reached.
        return StorageError.databaseError("The database is unavailable").causedBy(error)
    }

    static func map(_ error: PSQLError) -> StorageError {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else {
            return .databaseError("The database is unavailable")
        }
        let message = error.serverInfo?[.message] ?? ""
        switch state {
        case "42501":
            // Upstream's text for a policy, whatever table it guards; other refusals (a role
            // without the privilege) are just denied.
            if message.contains("row-level security") { return .accessDenied("new row violates row-level security policy") }
            // The delete-protection trigger's text is upstream's message to clients (contract §9.3).
            if message.hasPrefix("Direct deletion from storage tables") { return .accessDenied(message) }
            return .accessDenied("Access denied")
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
        case "22P02", "22021", "22P05", "22003", "22007", "22008":
            // Malformed input text, characters Postgres cannot store (NUL in a prefix, a
            // `\u0000` escape in metadata), numbers beyond a column's range (a list offset
            // over 2^31) and dates that are none: the caller's input, not a server fault.
            return .invalidParameter("A value in the request is not valid")
        case "22023" where message.hasPrefix("role "):
            // A signed JWT naming a role the database does not have: the caller's fault, not ours.
            return .accessDenied("The token's role is not a database role")
        case "42703", "42P01":
            return .databaseSchemaMismatch("The database schema does not match this server; run storage-api migrate")
        case "53300":
            return .slowDown
        default:
            return .databaseError("The database could not complete the request")
        }
    }
}
