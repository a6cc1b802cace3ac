public import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed S3 XML response: elements with their text and children, namespaces ignored.
public struct XMLTree: Sendable, Equatable {
    public var name: String
    public var text: String
    public var children: [XMLTree]

    /// The first child named `name`.
    public subscript(name: String) -> XMLTree? {
        children.first { $0.name == name }
    }

    /// Every child named `name`.
    public func all(_ name: String) -> [XMLTree] {
        children.filter { $0.name == name }
    }

    /// The text of the child named `name`.
    public func value(_ name: String) -> String? {
        self[name]?.text
    }

    /// Parses a document; nil when it is not well-formed XML.
    public static func parse(_ data: Data) -> XMLTree? {
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else { return nil }
        return root
    }

    /// Builds the element tree from parser events.
    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [XMLTree] = []
        var root: XMLTree?

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
            qualifiedName: String?, attributes: [String: String] = [:]
        ) {
            let local = elementName.split(separator: ":").last.map(String.init) ?? elementName
            stack.append(XMLTree(name: local, text: "", children: []))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(
            _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
        ) {
            guard var element = stack.popLast() else { return }
            if !element.children.isEmpty { element.text = element.text.trimmingCharacters(in: .whitespacesAndNewlines) }
            if stack.isEmpty {
                root = element
            } else {
                stack[stack.count - 1].children.append(element)
            }
        }
    }
}

/// Writes the small XML request bodies S3 takes (multipart completion, bulk delete).
public enum XMLWriter {
    /// `text` as XML character data or an attribute value.
    public static func escape(_ text: String) -> String {
        // Most names and values hold none of the five: skip the character walk (listings escape thousands).
        guard text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else {
            return text
        }
        var output = ""
        for character in text {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&quot;"
            case "'": output += "&apos;"
            default: output.append(character)
            }
        }
        return output
    }
}
