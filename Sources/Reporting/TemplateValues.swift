// TemplateValues — context values that read well however a template uses them:
// a record gives its fields to `{{x.field}}` and sections, and a sentence to
// `{{x}}` alone; a list iterates in `{{#x}}…{{/x}}` and prints as its values to
// `{{x}}` alone (never a Swift dictionary or array description).
import Mustache

/// Named fields, and a text for `{{record}}` by itself.
struct TemplateRecord: MustacheParent, MustacheCustomRenderable {
    let fields: [String: Any]
    let text: String
    func child(named name: String) -> Any? { fields[name] }
    var renderText: String { text }
    var isNull: Bool { false }
}

/// Items for sections, and a text for `{{list}}` by itself.
struct TemplateList: MustacheSequence, MustacheCustomRenderable {
    let items: [Any]
    let text: String
    func makeIterator() -> IndexingIterator<[Any]> { items.makeIterator() }
    var renderText: String { text }
    var isNull: Bool { items.isEmpty }
}

extension TemplateList {
    /// Table cells (`value` each), shown alone as "a | b | c".
    static func cells(_ values: [String]) -> TemplateList {
        TemplateList(items: values.map { ["value": $0] }, text: values.joined(separator: " | "))
    }
}
