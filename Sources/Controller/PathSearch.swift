/// Dijkstra over a PathComputation's links for one objective, and Yen's k shortest paths on top.
/// Paths are lists of directed link indices.
struct Search: Sendable {
    let computation: PathComputation
    let mode: PathComputation.Mode
    /// Per-link weights of an additive objective.
    let weights: [Double]
    /// Links the request may use (algorithm members, enough bandwidth).
    let usable: [Bool]

    /// A path's rank: the objective, then the IGP metric, then the hops (deterministic ties).
    struct Label {
        var value: Double
        var igp: UInt64
        var hops: Int
    }

    var start: Label { Label(value: mode == .additive ? 0 : .infinity, igp: 0, hops: 0) }

    func extend(_ label: Label, _ link: Int) -> Label {
        let metrics = computation.linkMetrics[link]
        let value = switch mode {
        case .additive: label.value + weights[link]
        case .widest: min(label.value, metrics.availableKbps)
        case .narrowest: min(label.value, Double(metrics.bandwidthKbps))
        }
        return Label(value: value, igp: label.igp + UInt64(metrics.igpMetric), hops: label.hops + 1)
    }

    static func better(_ a: Double, than b: Double, mode: PathComputation.Mode) -> Bool {
        mode == .widest ? a > b : a < b
    }

    func better(_ a: Double, than b: Double) -> Bool { Self.better(a, than: b, mode: mode) }

    func better(_ a: Label, than b: Label) -> Bool {
        if a.value != b.value { return better(a.value, than: b.value) }
        if a.igp != b.igp { return a.igp < b.igp }
        return a.hops < b.hops
    }

    func label(of links: [Int]) -> Label { links.reduce(start) { extend($0, $1) } }

    func cost(of links: [Int]) -> Double { label(of: links).value }

    /// The best paths from a to every router, as the link each is reached through (-1: not reached, or a itself).
    func tree(from a: Int) -> [Int] { explore(from: a, to: nil, bannedLinks: [], bannedNodes: []).through }

    /// The path to b in a tree from a; nil when b is not reached.
    func path(to b: Int, from a: Int, in through: [Int]) -> [Int]? {
        var links: [Int] = []
        var node = b
        while node != a {
            guard through[node] >= 0 else { return nil }
            links.append(through[node])
            node = computation.linkFrom[through[node]]
        }
        return links.reversed()
    }

    /// The best path from a to b avoiding the banned links and nodes; [] when a == b.
    func best(from a: Int, to b: Int, bannedLinks: Set<Int> = [], bannedNodes: Set<Int> = []) -> [Int]? {
        let (through, reached) = explore(from: a, to: b, bannedLinks: bannedLinks, bannedNodes: bannedNodes)
        return reached ? path(to: b, from: a, in: through) : nil
    }

    /// Dijkstra from a, until b is settled (or everything, without b).
    func explore(from a: Int, to b: Int?, bannedLinks: Set<Int>, bannedNodes: Set<Int>) -> (through: [Int], reached: Bool) {
        let count = computation.names.count
        var labels = [Label?](repeating: nil, count: count)
        var through = [Int](repeating: -1, count: count)
        var done = [Bool](repeating: false, count: count)
        var heap = LabelHeap(search: self)
        labels[a] = start
        heap.push(start, a)
        while let (label, node) = heap.pop() {
            if done[node] { continue }
            done[node] = true
            if node == b { break }  // b nil: the whole tree
            for link in computation.outgoing[node] where usable[link] && !bannedLinks.contains(link) {
                let next = computation.linkTo[link]
                if done[next] || bannedNodes.contains(next) { continue }
                let candidate = extend(label, link)
                if labels[next].map({ better(candidate, than: $0) }) ?? true {
                    labels[next] = candidate
                    through[next] = link
                    heap.push(candidate, next)
                }
            }
        }
        return (through, b.map { done[$0] } ?? true)
    }
}

/// A binary heap of (label, router), the best label first.
struct LabelHeap {
    let search: Search
    var items: [(Search.Label, Int)] = []

    init(search: Search) { self.search = search }

    mutating func push(_ label: Search.Label, _ node: Int) {
        items.append((label, node))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard search.better(items[child].0, than: items[parent].0) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (Search.Label, Int)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < items.count, search.better(items[left].0, than: items[best].0) { best = left }
            if right < items.count, search.better(items[right].0, than: items[best].0) { best = right }
            if best == parent { break }
            items.swapAt(parent, best)
            parent = best
        }
        return top
    }
}

/// Paths from a to b, best first (Yen's algorithm), up to a limit.
struct PathEnumerator {
    private let search: Search
    private let from: Int, to: Int, limit: Int
    private var found: [[Int]] = []
    private var candidates: [[Int]] = []
    private var started = false

    init(search: Search, from: Int, to: Int, limit: Int) {
        self.search = search
        self.from = from
        self.to = to
        self.limit = limit
    }

    /// The next path's links.
    mutating func next() -> [Int]? {
        if !started {
            started = true
            guard let first = search.best(from: from, to: to) else { return nil }
            found = [first]
            return first
        }
        guard let previous = found.last, found.count < limit else { return nil }
        let nodes = [from] + previous.map { search.computation.linkTo[$0] }
        for spur in previous.indices {
            let root = Array(previous[..<spur])
            let bannedLinks = Set(found.filter { $0.count > spur && Array($0[..<spur]) == root }.map { $0[spur] })
            let bannedNodes = Set(nodes[..<spur])
            guard let tail = search.best(from: nodes[spur], to: to, bannedLinks: bannedLinks, bannedNodes: bannedNodes) else { continue }
            let path = root + tail
            if !candidates.contains(path) && !found.contains(path) { candidates.append(path) }
        }
        guard let bestIndex = candidates.indices.min(by: { search.better(search.label(of: candidates[$0]), than: search.label(of: candidates[$1])) })
        else { return nil }
        let next = candidates.remove(at: bestIndex)
        found.append(next)
        return next
    }
}
