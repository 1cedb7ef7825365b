// The eCLAT parser: recursive descent over the lexer's tokens, with source locations on every
// node. It recovers at the next line after an error, so one run reports every error of a file.

/// The integer types of eCLAT.
public enum IntType: String, Hashable, Sendable, CaseIterable {
    case u8, u16, u32, u64, s8, s16, s32, s64

    public var bits: Int {
        switch self {
        case .u8, .s8: 8
        case .u16, .s16: 16
        case .u32, .s32: 32
        case .u64, .s64: 64
        }
    }

    public var isSigned: Bool {
        switch self {
        case .s8, .s16, .s32, .s64: true
        default: false
        }
    }

    /// The 64-bit register form of `value` at this type: zero-extended (unsigned) or
    /// sign-extended (signed) from the type's width.
    public func normalize(_ value: UInt64) -> UInt64 {
        guard bits < 64 else { return value }
        let mask = (UInt64(1) << UInt64(bits)) &- 1
        let low = value & mask
        if isSigned, low >> UInt64(bits - 1) & 1 == 1 { return low | ~mask }
        return low
    }
}

indirect enum Expr: Sendable {
    case integer(UInt64, SourceLocation)
    case name(String, SourceLocation)
    case unary(String, Expr, SourceLocation)
    case binary(String, Expr, Expr, SourceLocation)
    /// `f(args)`; `object` is set for `Packet.readU8(…)`.
    case call(object: String?, name: String, args: [Expr], SourceLocation)
    case string(String, SourceLocation)
    /// `{ (k, …): (v, …), … }` (loader configuration only).
    case dict([([Expr], [Expr])], SourceLocation)
    case tuple([Expr], SourceLocation)

    var location: SourceLocation {
        switch self {
        case .integer(_, let l), .name(_, let l), .unary(_, _, let l), .binary(_, _, _, let l),
             .call(_, _, _, let l), .string(_, let l), .dict(_, let l), .tuple(_, let l): l
        }
    }
}

struct Parameter: Sendable {
    var type: IntType
    var name: String
    var location: SourceLocation
}

indirect enum Stmt: Sendable {
    case declare(IntType, String, Expr?, SourceLocation)
    /// `x = e` or `x op= e` (op is nil for plain assignment).
    case assign(String, String?, Expr, SourceLocation)
    case expression(Expr, SourceLocation)
    case ifElse([(Expr, [Stmt])], [Stmt]?, SourceLocation)
    case whileLoop(Expr, [Stmt], SourceLocation)
    case forRange(String, SourceLocation, [Expr], [Stmt], SourceLocation)
    case returnValue(Expr?, SourceLocation)
    case pass(SourceLocation)
    case breakLoop(SourceLocation)
    case continueLoop(SourceLocation)

    var location: SourceLocation {
        switch self {
        case .declare(_, _, _, let l), .assign(_, _, _, let l), .expression(_, let l), .ifElse(_, _, let l),
             .whileLoop(_, _, let l), .forRange(_, _, _, _, let l), .returnValue(_, let l), .pass(let l),
             .breakLoop(let l), .continueLoop(let l): l
        }
    }
}

struct ChainDef: Sendable {
    var name: String
    var location: SourceLocation
    var parameters: [Parameter]
    var body: [Stmt]
}

enum TopLevel: Sendable {
    /// `from programs.PACKAGE import …` (or `loaders.PACKAGE`).
    case importPrograms(package: String, names: [(String, SourceLocation)], isLoader: Bool, SourceLocation, packageLocation: SourceLocation)
    /// `loader[map] = {…}` or `loader.map = {…}`.
    case loaderMap(loader: String, map: String, Expr, SourceLocation, mapLocation: SourceLocation)
    /// `loader.attach('dev', 'mode')`.
    case attach(loader: String, args: [Expr], SourceLocation)
    case constant(String, Expr, SourceLocation)
    case chain(ChainDef)
}

struct Parser {
    var tokens: [Token]
    var position = 0
    var sink: DiagnosticSink
    /// Nesting of expressions: bounded so a pathological input cannot overflow the stack.
    var nesting = 0
    static let maxNesting = 64
    /// Binary operators in one expression: a long flat chain is a deep tree for the code
    /// generator, so it is bounded too.
    var operators = 0
    static let maxOperators = 256

    init(tokens: [Token], sink: DiagnosticSink) {
        self.tokens = tokens
        self.sink = sink
    }

    struct Failure: Error {}

    var current: Token { tokens[min(position, tokens.count - 1)] }
    func peek(_ offset: Int = 1) -> Token { tokens[min(position + offset, tokens.count - 1)] }

    mutating func advance() -> Token {
        let token = current
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    func isName(_ name: String) -> Bool { current.kind == .name(name) }

    mutating func fail(_ message: String, at location: SourceLocation? = nil) -> Failure {
        let place = location ?? current.location
        if !sink.quietLines.contains(place.line) { sink.error(place, message) }
        return Failure()
    }

    mutating func expectOp(_ op: String, _ context: String) throws(Failure) {
        guard isOp(op) else { throw fail("expected '\(op)' \(context), found \(current.text)") }
        _ = advance()
    }

    mutating func expectName(_ context: String) throws(Failure) -> (String, SourceLocation) {
        guard case .name(let name) = current.kind else { throw fail("expected \(context), found \(current.text)") }
        let location = advance().location
        return (name, location)
    }

    mutating func expectNewline() throws(Failure) {
        guard current.kind == .newline || current.kind == .end else {
            throw fail("expected the end of the line, found \(current.text)")
        }
        if current.kind == .newline { _ = advance() }
    }

    /// Skips to the start of the next line (and over a block that follows it).
    mutating func recover() {
        while current.kind != .newline && current.kind != .end {
            _ = advance()
        }
        if current.kind == .newline { _ = advance() }
        if current.kind == .indent { skipBlock() }
    }

    mutating func skipBlock() {
        var level = 0
        repeat {
            switch current.kind {
            case .indent: level += 1
            case .dedent: level -= 1
            case .end: return
            default: break
            }
            _ = advance()
        } while level > 0
    }

    // MARK: Top level

    mutating func parseFile() -> [TopLevel] {
        var items: [TopLevel] = []
        while current.kind != .end {
            if current.kind == .newline { _ = advance(); continue }
            if current.kind == .indent {
                if !sink.quietLines.contains(current.location.line) { sink.error(current.location, "unexpected indentation") }
                skipBlock()
                continue
            }
            if current.kind == .dedent { _ = advance(); continue }
            if isDocstring {
                // A string on a line of its own documents, as in Python: no code.
                _ = advance()
                continue
            }
            do throws(Failure) {
                items.append(try parseTopLevel())
            } catch {
                recover()
            }
        }
        return items
    }

    mutating func parseTopLevel() throws(Failure) -> TopLevel {
        let start = current.location
        if isName("from") { return try parseImport() }
        if isName("def") { return .chain(try parseChain()) }
        if isName("import") { throw fail("write 'from programs.PACKAGE import NAME, …' or 'from loaders.PACKAGE import NAME'") }
        let (name, nameLocation) = try expectName("'from', 'def', a constant or a loader configuration")
        if isOp("[") || isOp(".") {
            let bracket = isOp("[")
            _ = advance()
            let (member, memberLocation) = try expectName(bracket ? "a map name" : "a map name or 'attach'")
            if bracket { try expectOp("]", "after the map name") }
            if !bracket && member == "attach" && isOp("(") {
                _ = advance()
                let args = try parseArguments()
                try expectNewline()
                return .attach(loader: name, args: args, start)
            }
            try expectOp("=", "after \(name)\(bracket ? "[\(member)]" : ".\(member)")")
            let value = try parseExpression()
            try expectNewline()
            return .loaderMap(loader: name, map: member, value, start, mapLocation: memberLocation)
        }
        if isOp("=") {
            _ = advance()
            let value = try parseExpression()
            try expectNewline()
            return .constant(name, value, nameLocation)
        }
        throw fail("expected '=' , '[' or '.' after '\(name)' at the top level, found \(current.text)")
    }

    mutating func parseImport() throws(Failure) -> TopLevel {
        let start = advance().location  // from
        var (module, moduleLocation) = try expectName("a module such as programs.PACKAGE")
        while isOp(".") {
            _ = advance()
            let (part, _) = try expectName("a module name after '.'")
            module += "." + part
        }
        guard isName("import") else { throw fail("expected 'import' after 'from \(module)', found \(current.text)") }
        _ = advance()
        let parenthesised = isOp("(")
        if parenthesised { _ = advance() }
        var names: [(String, SourceLocation)] = []
        repeat {
            if parenthesised && isOp(")") { break }
            names.append(try expectName("a name to import"))
            if isOp(",") { _ = advance() } else { break }
        } while true
        if parenthesised { try expectOp(")", "to close the import list") }
        try expectNewline()
        let parts = module.split(separator: ".", maxSplits: 1).map(String.init)
        let isLoader = parts[0] == "loaders" || parts[0] == "loader"
        guard isLoader || ["programs", "prog", "progs", "program"].contains(parts[0]) else {
            throw fail("import from 'programs.PACKAGE' or 'loaders.PACKAGE', not '\(module)'", at: moduleLocation)
        }
        guard parts.count == 2 else {
            throw fail("name the package: 'from \(parts[0]).PACKAGE import …'", at: moduleLocation)
        }
        return .importPrograms(package: parts[1], names: names, isLoader: isLoader, start,
                              packageLocation: SourceLocation(line: moduleLocation.line, column: moduleLocation.column + parts[0].count + 1))
    }

    mutating func parseChain() throws(Failure) -> ChainDef {
        _ = advance()  // def
        let (name, location) = try expectName("a chain name after 'def'")
        try expectOp("(", "after the chain name")
        var parameters: [Parameter] = []
        while !isOp(")") {
            let (typeName, typeLocation) = try expectName("a parameter such as 'u64: a'")
            guard let type = IntType(rawValue: typeName) else {
                throw fail("'\(typeName)' is not a type (u8, u16, u32, u64, s8, s16, s32, s64)", at: typeLocation)
            }
            try expectOp(":", "after the parameter type")
            let (parameter, parameterLocation) = try expectName("a parameter name")
            parameters.append(Parameter(type: type, name: parameter, location: parameterLocation))
            if isOp(",") { _ = advance() } else { break }
        }
        try expectOp(")", "to close the parameter list")
        try expectOp(":", "after the chain's parameters")
        let body = try parseBlock()
        return ChainDef(name: name, location: location, parameters: parameters, body: body)
    }

    /// A NEWLINE INDENT statements DEDENT block, or statements on the same line after ':'.
    mutating func parseBlock() throws(Failure) -> [Stmt] {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting < Self.maxNesting else { throw fail("blocks nested too deeply") }
        if current.kind != .newline {
            // `if x: pass` on one line.
            return try parseSimpleLine()
        }
        _ = advance()
        guard current.kind == .indent else { throw fail("expected an indented block") }
        _ = advance()
        var statements: [Stmt] = []
        while current.kind != .dedent && current.kind != .end {
            if current.kind == .newline { _ = advance(); continue }
            if current.kind == .indent {
                if !sink.quietLines.contains(current.location.line) { sink.error(current.location, "unexpected indentation") }
                skipBlock()
                continue
            }
            do throws(Failure) {
                statements += try parseStatement()
            } catch {
                recover()
            }
        }
        if current.kind == .dedent { _ = advance() }
        return statements
    }

    mutating func parseSimpleLine() throws(Failure) -> [Stmt] {
        let statement = try parseSimpleStatement()
        try expectNewline()
        return [statement]
    }

    mutating func parseStatement() throws(Failure) -> [Stmt] {
        let start = current.location
        if isName("if") {
            _ = advance()
            var branches: [(Expr, [Stmt])] = []
            let condition = try parseExpression()
            try expectOp(":", "after the condition")
            branches.append((condition, try parseBlock()))
            var elseBody: [Stmt]?
            while isName("elif") {
                _ = advance()
                let condition = try parseExpression()
                try expectOp(":", "after the condition")
                branches.append((condition, try parseBlock()))
            }
            if isName("else") {
                _ = advance()
                try expectOp(":", "after 'else'")
                elseBody = try parseBlock()
            }
            return [.ifElse(branches, elseBody, start)]
        }
        if isName("elif") || isName("else") { throw fail("'\(isName("elif") ? "elif" : "else")' without a matching 'if'") }
        if isName("while") {
            _ = advance()
            let condition = try parseExpression()
            try expectOp(":", "after the condition")
            return [.whileLoop(condition, try parseBlock(), start)]
        }
        if isName("for") {
            _ = advance()
            let (variable, variableLocation) = try expectName("a loop variable after 'for'")
            guard isName("in") else { throw fail("expected 'in' after 'for \(variable)', found \(current.text)") }
            _ = advance()
            guard isName("range") else { throw fail("expected 'range(N)' after 'in', found \(current.text)") }
            _ = advance()
            try expectOp("(", "after 'range'")
            let args = try parseArguments()
            try expectOp(":", "after 'range(…)'")
            return [.forRange(variable, variableLocation, args, try parseBlock(), start)]
        }
        if isName("def") { throw fail("a chain cannot be defined inside another") }
        if isName("from") { throw fail("imports belong at the top level") }
        return try parseSimpleLine()
    }

    /// A string alone on its line (a docstring).
    var isDocstring: Bool {
        guard case .string = current.kind else { return false }
        return peek().kind == .newline || peek().kind == .end
    }

    mutating func parseSimpleStatement() throws(Failure) -> Stmt {
        let start = current.location
        if isName("pass") || isDocstring { _ = advance(); return .pass(start) }
        if isName("break") { _ = advance(); return .breakLoop(start) }
        if isName("continue") { _ = advance(); return .continueLoop(start) }
        if isName("return") {
            _ = advance()
            if current.kind == .newline || current.kind == .end { return .returnValue(nil, start) }
            return .returnValue(try parseExpression(), start)
        }
        // `u64 : x = e` (also `u64 x = e`).
        if case .name(let word) = current.kind, let type = IntType(rawValue: word),
           peek().kind == .op(":") || { if case .name = peek().kind { return true } else { return false } }() {
            _ = advance()
            if isOp(":") { _ = advance() }
            let (name, nameLocation) = try expectName("a variable name")
            if isOp("=") {
                _ = advance()
                return .declare(type, name, try parseExpression(), nameLocation)
            }
            return .declare(type, name, nil, nameLocation)
        }
        if case .name(let name) = current.kind {
            let augmented = ["=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="]
            if case .op(let op) = peek().kind, augmented.contains(op) {
                _ = advance()
                _ = advance()
                let value = try parseExpression()
                return .assign(name, op == "=" ? nil : String(op.dropLast()), value, start)
            }
        }
        let expression = try parseExpression()
        return .expression(expression, start)
    }

    mutating func parseArguments() throws(Failure) -> [Expr] {
        // After '(': expressions up to ')'.
        var args: [Expr] = []
        while !isOp(")") {
            args.append(try parseExpression())
            if isOp(",") { _ = advance() } else { break }
        }
        try expectOp(")", "to close the argument list")
        return args
    }

    // MARK: Expressions (Python precedence)

    mutating func parseExpression() throws(Failure) -> Expr {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting < Self.maxNesting else { throw fail("expression nested too deeply") }
        if nesting == 1 { operators = 0 }
        return try parseOr()
    }

    mutating func countOperator(at location: SourceLocation) throws(Failure) {
        operators += 1
        guard operators <= Self.maxOperators else {
            throw fail("expression too long (more than \(Self.maxOperators) operators); split it with variables", at: location)
        }
    }

    mutating func parseOr() throws(Failure) -> Expr {
        var left = try parseAnd()
        while isName("or") {
            let location = advance().location
            try countOperator(at: location)
            left = .binary("or", left, try parseAnd(), location)
        }
        return left
    }

    mutating func parseAnd() throws(Failure) -> Expr {
        var left = try parseNot()
        while isName("and") {
            let location = advance().location
            try countOperator(at: location)
            left = .binary("and", left, try parseNot(), location)
        }
        return left
    }

    mutating func parseNot() throws(Failure) -> Expr {
        if isName("not") {
            let location = advance().location
            nesting += 1
            defer { nesting -= 1 }
            guard nesting < Self.maxNesting else { throw fail("expression nested too deeply") }
            return .unary("not", try parseNot(), location)
        }
        return try parseComparison()
    }

    static let comparisons: Set<String> = ["==", "!=", "<", "<=", ">", ">="]

    mutating func parseComparison() throws(Failure) -> Expr {
        let left = try parseBinary(level: 0)
        if case .op(let op) = current.kind, Self.comparisons.contains(op) {
            let location = advance().location
            let right = try parseBinary(level: 0)
            if case .op(let next) = current.kind, Self.comparisons.contains(next) {
                throw fail("comparisons do not chain: write 'a \(op) b and b \(next) c'")
            }
            return .binary(op, left, right, location)
        }
        return left
    }

    static let levels: [[String]] = [["|"], ["^"], ["&"], ["<<", ">>"], ["+", "-"], ["*", "/", "%"]]

    mutating func parseBinary(level: Int) throws(Failure) -> Expr {
        guard level < Self.levels.count else { return try parseUnary() }
        var left = try parseBinary(level: level + 1)
        while case .op(let op) = current.kind, Self.levels[level].contains(op) {
            let location = advance().location
            try countOperator(at: location)
            left = .binary(op, left, try parseBinary(level: level + 1), location)
        }
        return left
    }

    mutating func parseUnary() throws(Failure) -> Expr {
        if isOp("-") || isOp("~") || isOp("+") {
            let token = advance()
            guard case .op(let op) = token.kind else { throw fail("expected an operator") }
            nesting += 1
            defer { nesting -= 1 }
            guard nesting < Self.maxNesting else { throw fail("expression nested too deeply") }
            let operand = try parseUnary()
            return op == "+" ? operand : .unary(op, operand, token.location)
        }
        return try parsePrimary()
    }

    mutating func parsePrimary() throws(Failure) -> Expr {
        let token = current
        switch token.kind {
        case .integer(let value):
            _ = advance()
            return .integer(value, token.location)
        case .string(let text):
            _ = advance()
            return .string(text, token.location)
        case .name(let name):
            if ["and", "or", "not", "if", "else", "elif", "while", "for", "def", "return", "pass", "in", "from", "import"].contains(name) {
                throw fail("expected an expression, found the keyword '\(name)'")
            }
            _ = advance()
            if isOp(".") {
                _ = advance()
                let (method, _) = try expectName("a method name after '\(name).'")
                try expectOp("(", "after '\(name).\(method)'")
                return .call(object: name, name: method, args: try parseArguments(), token.location)
            }
            if isOp("(") {
                _ = advance()
                return .call(object: nil, name: name, args: try parseArguments(), token.location)
            }
            return .name(name, token.location)
        case .op("("):
            _ = advance()
            if isOp(")") {
                _ = advance()
                return .tuple([], token.location)
            }
            let first = try parseExpression()
            if isOp(",") {
                var items = [first]
                while isOp(",") {
                    _ = advance()
                    if isOp(")") { break }
                    items.append(try parseExpression())
                }
                try expectOp(")", "to close the tuple")
                return .tuple(items, token.location)
            }
            try expectOp(")", "to close the parenthesis")
            return first
        case .op("{"):
            _ = advance()
            var entries: [([Expr], [Expr])] = []
            while !isOp("}") {
                let key = try parseExpression()
                try expectOp(":", "between a key and its value")
                let value = try parseExpression()
                entries.append((Self.items(key), Self.items(value)))
                if isOp(",") { _ = advance() } else { break }
            }
            try expectOp("}", "to close the map")
            return .dict(entries, token.location)
        default:
            throw fail("expected an expression, found \(token.text)")
        }
    }

    static func items(_ expr: Expr) -> [Expr] {
        if case .tuple(let items, _) = expr { return items }
        return [expr]
    }
}
