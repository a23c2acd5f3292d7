// FileSystemErrors — file-system failures in words: the POSIX cause under
// Foundation's errors ("No space left on device"), never an NSError dump.
import Foundation

public enum FileSystemErrors {
    /// A file-system error as a short phrase ("No such file or directory").
    public static func phrase(_ error: Error) -> String {
        if let code = posixCode(error) { return String(cString: strerror(code)) }
        if let cocoa = error as? CocoaError {
            switch cocoa.code {
            case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
            case .fileWriteOutOfSpace: return "no space left on device"
            case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
            case .fileWriteVolumeReadOnly: return "read-only file system"
            default: break
            }
        }
        if let engine = error as? EngineError { return engine.description }
        return "\(error)"
    }

    /// The device (or quota) is full.
    public static func isOutOfSpace(_ error: Error) -> Bool {
        if let code = posixCode(error) { return code == ENOSPC || code == EDQUOT }
        return (error as? CocoaError)?.code == .fileWriteOutOfSpace
    }

    /// Why writing `path` failed, for a message: "no space left on device while
    /// writing PATH", or "cannot write PATH: permission denied".
    public static func writing(_ path: String, _ error: Error) -> String {
        isOutOfSpace(error) ? "no space left on device while writing \(path)" : "cannot write \(path): \(phrase(error))"
    }

    /// The POSIX error number behind `error`, when there is one.
    static func posixCode(_ error: Error) -> Int32? {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return Int32(underlying.code)
        }
        // swift-foundation keeps the cause as a POSIXError under the CocoaError.
        if let cocoa = error as? CocoaError, let posix = cocoa.underlying as? POSIXError { return posix.code.rawValue }
        if let posix = error as? POSIXError { return posix.code.rawValue }
        if ns.domain == NSPOSIXErrorDomain { return Int32(ns.code) }
        return nil
    }
}
