// YAMLParser — the front door from bytes on disk to a `YAMLNode` tree: reads
// files defensively (missing, directory, too large, binary, not UTF-8), applies
// the size/depth/node limits, and hands well-formed UTF-8 to the libyaml-based
// tree builder (YAMLTreeBuilder.swift). Every failure is a `DiagnosticError`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum YAMLParser {
    /// Limits that keep hostile input from exhausting memory or stack.
    public struct Limits: Sendable {
        /// Largest input accepted, in bytes.
        public var maxBytes: Int = 8 << 20
        /// Deepest nesting of mappings and sequences (the root collection is depth 1).
        public var maxDepth: Int = 128
        /// Most nodes in the tree, counted after alias expansion.
        public var maxNodes: Int = 1_000_000

        public static let `default` = Limits()

        public init(maxBytes: Int = 8 << 20, maxDepth: Int = 128, maxNodes: Int = 1_000_000) {
            self.maxBytes = maxBytes
            self.maxDepth = maxDepth
            self.maxNodes = maxNodes
        }
    }

    /// Parses exactly one document. Throws `DiagnosticError` with located diagnostics.
    ///
    /// An empty stream (no bytes, or only comments and blank lines) is not an
    /// error here: it yields a plain empty scalar (`isNull == true`) located at
    /// `file:1:1`, so the caller can say what it expected the file to contain.
    public static func parse(_ text: String, file: String, limits: Limits = .default) throws -> YAMLNode {
        try parse(bytes: Array(text.utf8), file: file, limits: limits)
    }

    /// Parses exactly one document from UTF-8 bytes. See `parse(_:file:limits:)`.
    public static func parse(bytes: [UInt8], file: String, limits: Limits = .default) throws -> YAMLNode {
        let start = SourceLocation(file: file, line: 1, column: 1)
        if bytes.count > limits.maxBytes {
            throw DiagnosticError([.error(
                "the input is \(bytes.count) bytes, over the limit of \(limits.maxBytes) bytes", at: start)])
        }
        if let problem = InputCheck.firstProblem(in: bytes, file: file) {
            throw DiagnosticError([problem])
        }
        return try YAMLTreeBuilder(file: file, limits: limits).build(bytes)
    }

    /// Reads and parses a file. A missing file, a directory, an unreadable file,
    /// binary or non-UTF-8 content, or a file over `limits.maxBytes` is a
    /// `DiagnosticError` (without a location when the file cannot be read at
    /// all, at `path:1:1` or at the offending byte otherwise) — never a crash.
    public static func parse(fileAt path: String, limits: Limits = .default) throws -> YAMLNode {
        let bytes = try readFile(at: path, maxBytes: limits.maxBytes)
        return try parse(bytes: bytes, file: path, limits: limits)
    }

    /// Reads at most `maxBytes` bytes; anything larger is an error, detected
    /// from the file size before reading when the file is a regular file.
    static func readFile(at path: String, maxBytes: Int) throws -> [UInt8] {
        func failure(_ message: String) -> DiagnosticError {
            // Located at the file itself, so the message starts with its name.
            DiagnosticError([.error(message, at: SourceLocation(file: path, line: 1, column: 1))])
        }
        func systemError() -> String { String(cString: strerror(errno)) }

        // O_NONBLOCK: opening a FIFO without a writer must not hang.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw failure("cannot open '\(path)': \(systemError().lowercased())")
        }
        defer { close(fd) }

        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw failure("cannot read '\(path)': \(systemError().lowercased())")
        }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR {
            throw failure("'\(path)' is a directory, not a YAML file")
        }
        if type == S_IFREG, Int(info.st_size) > maxBytes {
            throw failure("'\(path)' is \(info.st_size) bytes, over the limit of \(maxBytes) bytes")
        }

        var bytes: [UInt8] = []
        if type == S_IFREG { bytes.reserveCapacity(Int(info.st_size)) }
        let chunk = 64 << 10
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunk) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw failure("cannot read '\(path)': it is not a regular file and has no data ready")
                }
                throw failure("cannot read '\(path)': \(systemError().lowercased())")
            }
            bytes.append(contentsOf: buffer[0..<count])
            // Devices and pipes have no size up front; stop as soon as the limit is passed.
            if bytes.count > maxBytes {
                throw failure("'\(path)' is over the limit of \(maxBytes) bytes")
            }
        }
        return bytes
    }
}

/// Rejects input libyaml should never see: other Unicode encodings, NUL bytes
/// (binary files) and invalid UTF-8, each located at the offending byte.
enum InputCheck {
    static func firstProblem(in bytes: [UInt8], file: String) -> Diagnostic? {
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0, 0, 0xFE, 0xFF]) {
            return .error("the input is UTF-16 or UTF-32 encoded; tlc reads UTF-8 only",
                          at: SourceLocation(file: file, line: 1, column: 1))
        }
        let nul = bytes.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress, let hit = memchr(base, 0, buffer.count) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
        // Fast path: the standard library's validator; locate the problem only if it fails.
        let invalid = String(validating: bytes, as: UTF8.self) == nil ? firstInvalidUTF8(in: bytes) : nil
        if let n = nul, invalid.map({ n < $0 }) ?? true {
            return .error("the input contains a NUL byte; it looks like a binary file, not YAML",
                          at: location(ofByte: n, in: bytes, file: file))
        }
        if let i = invalid {
            let byte = "0x" + String(bytes[i], radix: 16, uppercase: true)
            return .error("invalid UTF-8 (byte \(byte)); YAML files must be UTF-8 text",
                          at: location(ofByte: i, in: bytes, file: file))
        }
        return nil
    }

    /// Offset of the first byte that does not start a well-formed UTF-8 sequence.
    static func firstInvalidUTF8(in bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let lead = bytes[i]
            if lead < 0x80 { i += 1; continue }
            let length: Int, minimum: UInt32
            var scalar: UInt32
            switch lead {
            case 0xC0...0xDF: (length, minimum, scalar) = (2, 0x80, UInt32(lead & 0x1F))
            case 0xE0...0xEF: (length, minimum, scalar) = (3, 0x800, UInt32(lead & 0x0F))
            case 0xF0...0xF7: (length, minimum, scalar) = (4, 0x10000, UInt32(lead & 0x07))
            default: return i
            }
            guard i + length <= n else { return i }
            for k in 1..<length {
                let next = bytes[i + k]
                guard next & 0xC0 == 0x80 else { return i }
                scalar = scalar << 6 | UInt32(next & 0x3F)
            }
            if scalar < minimum || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return i }
            i += length
        }
        return nil
    }

    /// Line and column (1-based, columns in characters) of a byte offset,
    /// counting line breaks the way libyaml does (LF, CRLF, lone CR).
    static func location(ofByte offset: Int, in bytes: [UInt8], file: String) -> SourceLocation {
        // The end of input after a final line break is the end of the last line: never
        // a line past the end of the file.
        if offset >= bytes.count, bytes.count > 0, bytes.last == 0x0A || bytes.last == 0x0D {
            return location(ofByte: bytes.count - (bytes.count >= 2 && bytes[bytes.count - 2] == 0x0D && bytes.last == 0x0A ? 2 : 1),
                            in: bytes, file: file)
        }
        var line = 1, column = 1
        var i = 0
        let end = min(offset, bytes.count)
        while i < end {
            let b = bytes[i]
            if b == 0x0A || (b == 0x0D && (i + 1 >= bytes.count || bytes[i + 1] != 0x0A)) {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80, b != 0x0D {
                column += 1
            }
            i += 1
        }
        return SourceLocation(file: file, line: line, column: column)
    }
}
