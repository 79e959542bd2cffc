/// Rows of text in aligned columns for a terminal: a header row, two spaces between columns,
/// text left-aligned and numbers right-aligned, no trailing blanks.
struct TextTable {
    enum Alignment {
        case left
        case right
    }

    struct Column {
        var title: String
        var alignment: Alignment = .left
    }

    var columns: [Column]
    var rows: [[String]] = []

    init(_ columns: [Column]) {
        self.columns = columns
    }

    init(_ titles: [String], rightAligned: Set<String> = []) {
        columns = titles.map { Column(title: $0, alignment: rightAligned.contains($0) ? .right : .left) }
    }

    mutating func append(_ row: [String]) {
        rows.append(row)
    }

    func render() -> String {
        var widths = columns.map(\.title.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        let lines = ([columns.map(\.title)] + rows).map { row in
            var line = ""
            for (index, column) in columns.enumerated() {
                let cell = index < row.count ? row[index] : ""
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                if index > 0 { line += "  " }
                line += column.alignment == .right ? padding + cell : cell + padding
            }
            while line.last == " " { line.removeLast() }
            return line
        }
        return lines.joined(separator: "\n")
    }
}
