/// The outcome of reading one field: absent (the default applies), invalid (a problem has been
/// logged and the default stays), or a value.
enum FieldValue<Value> {
    case absent
    case invalid
    case value(Value)

    var value: Value? {
        if case .value(let value) = self { return value }
        return nil
    }

    var isInvalid: Bool {
        if case .invalid = self { return true }
        return false
    }

    /// Stores a value in `target`; returns false when the field was invalid.
    @discardableResult
    func store(into target: inout Value) -> Bool {
        switch self {
        case .absent: return true
        case .invalid: return false
        case .value(let value):
            target = value
            return true
        }
    }
}
