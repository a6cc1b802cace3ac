import Foundation
import ObjectStore
import StorageCore

/// An upload's pieces as Postgres keeps them (`resumable_uploads.pieces`, JSON text).
enum ResumablePiecesJSON {
    /// The text of `pieces`.
    static func encode(_ pieces: ResumablePieces) throws -> String {
        do {
            return String(decoding: try JSONEncoder().encode(pieces), as: UTF8.self)
        } catch {
            throw StorageError.internalError("a resumable upload's state could not be written").causedBy(error)
        }
    }

    /// The pieces in `json`; `{}` is a new upload's.
    static func decode(_ json: String) throws -> ResumablePieces {
        if json == "{}" { return ResumablePieces() }
        do {
            return try JSONDecoder().decode(ResumablePieces.self, from: Data(json.utf8))
        } catch {
            throw StorageError.internalError("a resumable upload's state is unreadable").causedBy(error)
        }
    }
}
