// Stage — one planned unit of work, modelled on swift-driver's `Job`: plain,
// printable, `Codable` data that says what to do (its `work`), what it reads
// (`deps`) and what it is called (`hash`). Same hash, same result: that is what
// caching, sharing across sweep points and `tlc verify` rest on.

/// One unit of work: a pure function of its work value and its dependencies' outputs.
public struct Stage: Codable, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        /// Decode and resize an image folder once (its output is the preprocessed images).
        case dataDecode = "data.decode"
        case dataLoad = "data.load"
        case dataNormalize = "data.normalize"
        case modelInit = "model.init"
        case features
        /// The diagonal Fisher information of a source model on its own data (EWC).
        case fisher
        case train
        case prune
        case quantize
        case distill
        /// Weight sharing (k-means codebooks) with fine-tuning.
        case share
        /// Deep Compression storage: sparse, coded, deflated.
        case encode
        case ensemble
        case evaluate
        case report
    }

    /// Unique within a plan: `kind:hash-prefix`.
    public var id: String
    /// Everything the stage does, resolved by the planner; the executor reads nothing else.
    public var work: StageWork
    /// Experiment this stage comes from (differs for `run:` dependencies).
    public var experiment: String
    /// SHA-256 (hex) of the format version, the work value and the dependencies'
    /// hashes (see ``StageHashing``).
    public var hash: String
    /// Ids of the stages whose outputs this one reads, in the order its work expects.
    public var deps: [String]
    /// Ids of the experiment's points that use this stage.
    public var points: [String]
    /// Estimated floating-point operations.
    public var flops: Double
    /// Estimated peak resident memory of the process while this stage runs, in bytes
    /// (the planner's estimate; 0 when not estimated). Not part of the hash.
    public var memory: Int = 0
    /// A short phrase for people ("train mlp, 5 epochs, adam lr=1e-3"). A sweep
    /// point's report says which point it reports on; that phrase is made from the
    /// work when asked for, not kept (a big sweep has a million of them).
    public var summary: String {
        get { customSummary ?? defaultSummary }
        set { customSummary = isDefaultSummary(newValue) ? nil : newValue }
    }
    private var customSummary: String?

    /// Says the summary is the one made from the work ("report for LABEL").
    public mutating func useDefaultSummary() { customSummary = nil }

    /// The summary a stage has unless given another: "report for LABEL" for a point's report.
    private var defaultSummary: String {
        if case .report(let w) = work, !w.label.isEmpty { return "report for " + w.label }
        return ""
    }

    private func isDefaultSummary(_ text: String) -> Bool {
        guard case .report(let w) = work, !w.label.isEmpty else { return text.isEmpty }
        // Byte for byte (String's == would take canonically equivalent text for it).
        let prefix = "report for ".utf8
        return text.utf8.count == prefix.count + w.label.utf8.count && text.utf8.starts(with: prefix)
            && text.utf8.dropFirst(prefix.count).elementsEqual(w.label.utf8)
    }

    public var kind: Kind { work.kind }

    public init(work: StageWork, experiment: String, deps: [String], depHashes: [String], points: [String],
                flops: Double, summary: String) throws {
        self.work = work
        self.experiment = experiment
        self.hash = try StageHashing.hash(work, dependencies: depHashes)
        self.id = "\(work.kind.rawValue):\(hash.prefix(12))"
        self.deps = deps
        self.points = points
        self.flops = flops
        self.summary = summary
    }

    public var description: String { "\(kind.rawValue) \(hash.prefix(10)) — \(summary)" }

    enum CodingKeys: String, CodingKey { case id, kind, work, experiment, hash, deps, points, flops, memory, summary }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        let kind = try c.decode(Kind.self, forKey: .kind)
        work = try StageWork.decode(kind, from: c.superDecoder(forKey: .work))
        experiment = try c.decode(String.self, forKey: .experiment)
        hash = try c.decode(String.self, forKey: .hash)
        deps = try c.decode([String].self, forKey: .deps)
        points = try c.decode([String].self, forKey: .points)
        flops = try c.decode(Double.self, forKey: .flops)
        memory = try c.decodeIfPresent(Int.self, forKey: .memory) ?? 0
        summary = try c.decode(String.self, forKey: .summary)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(kind, forKey: .kind)
        try work.encodePayload(to: c.superEncoder(forKey: .work))
        try c.encode(experiment, forKey: .experiment)
        try c.encode(hash, forKey: .hash)
        try c.encode(deps, forKey: .deps)
        try c.encode(points, forKey: .points)
        try c.encode(flops, forKey: .flops)
        try c.encode(memory, forKey: .memory)
        try c.encode(summary, forKey: .summary)
    }
}
