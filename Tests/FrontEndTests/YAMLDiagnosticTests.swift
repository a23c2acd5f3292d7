// Tests of the diagnostics types and the "did you mean" helper.

import Testing
@testable import FrontEnd

@Test func diagnosticText() {
    let location = SourceLocation(file: "exp.yaml", line: 3, column: 5)
    #expect(location.description == "exp.yaml:3:5")
    #expect(Diagnostic.error("mapping values are not allowed in this context", at: location).description
            == "exp.yaml:3:5: error: mapping values are not allowed in this context")
    #expect(Diagnostic.warning("unused key 'foo'", at: location, notes: ["did you mean 'for'?", "second"]).description
            == "exp.yaml:3:5: warning: unused key 'foo'\n  note: did you mean 'for'?\n  note: second")
    #expect(Diagnostic(.note, "see here", at: nil).description == "note: see here")
    #expect(Diagnostic("defaults to error", at: nil).severity == .error)

    let error = DiagnosticError([
        .error("first", at: location),
        .error("second", at: nil, notes: ["hint"]),
    ])
    #expect(error.description == "exp.yaml:3:5: error: first\nerror: second\n  note: hint")
}

@Test func diagnosticEngineCollects() {
    let engine = DiagnosticEngine()
    #expect(!engine.hasErrors)
    engine.emit(.warning("just a warning", at: nil))
    #expect(!engine.hasErrors)
    engine.emit(.error("now an error", at: nil))
    #expect(engine.hasErrors)
    #expect(engine.diagnostics.map(\.message) == ["just a warning", "now an error"])
}

@Test func suggestions() {
    let fields = ["epochs", "batch_size", "schedule", "early_stopping", "lr"]
    #expect(suggestion(for: "epochz", among: fields) == "epochs")
    #expect(suggestion(for: "Epochs", among: fields) == "epochs")
    #expect(suggestion(for: "epcohs", among: fields) == "epochs")        // transposition
    #expect(suggestion(for: "batchsize", among: fields) == "batch_size")
    #expect(suggestion(for: "shcedule", among: fields) == "schedule")
    #expect(suggestion(for: "learning_rate", among: fields) == nil)
    #expect(suggestion(for: "lx", among: fields) == "lr")                // max(1, 2/3) = 1
    #expect(suggestion(for: "xy", among: fields) == nil)
    #expect(suggestion(for: "anything", among: []) == nil)
    #expect(suggestion(for: "", among: ["a", "bc"]) == "a")
}

@Test func editDistances() {
    #expect(editDistance(Array("kitten"), Array("sitting")) == 3)
    #expect(editDistance(Array("ab"), Array("ba")) == 1)
    #expect(editDistance(Array(""), Array("abc")) == 3)
    #expect(editDistance(Array("same"), Array("same")) == 0)
}
