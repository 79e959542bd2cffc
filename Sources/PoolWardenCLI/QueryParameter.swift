import OpenAPIRuntime

/// Command-line parameters as the contract's query params. Each is sent as a JSON string, which
/// PostgreSQL reads as text of the parameter's type (`$1::int` gets `"41"` and sees 41), so a
/// shell word never changes type by how it looks. The one exception is the word `NULL`, sent as
/// SQL NULL; a backslash before it escapes it: `\NULL` sends the text `NULL`, `\\NULL` sends
/// `\NULL`, and so on.
enum QueryParameter {
    static let help = """
        Each PARAM is sent as text ($1::int reads "41" as 41). NULL sends SQL NULL; \\NULL sends the \
        text NULL (each further leading backslash is kept: \\\\NULL sends \\NULL). Put -- before \
        parameters that start with a dash.
        """

    static func value(_ word: String) -> OpenAPIValueContainer {
        if word == "NULL" { return nil }
        let backslashes = word.prefix(while: { $0 == "\\" }).count
        if backslashes > 0, word.dropFirst(backslashes) == "NULL" {
            return OpenAPIValueContainer(stringLiteral: String(word.dropFirst()))
        }
        return OpenAPIValueContainer(stringLiteral: word)
    }
}
