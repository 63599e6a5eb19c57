/// Which language to answer a person in: the first of the languages on offer that the
/// reader's `Accept-Language` asks for (by its q-values, then its order), else the
/// first of `fallback` on offer (the market's languages), else English, else the first
/// on offer in alphabetical order.
public enum Language {
    /// The primary subtags of an `Accept-Language` value, most wanted first ("ru-RU,ru;q=0.9,
    /// en;q=0.8" is ru, ru, en); at most 20, those with q=0 left out.
    public static func preferences(_ header: String?) -> [String] {
        var ranked: [(language: String, q: Double, order: Int)] = []
        for (order, part) in (header ?? "").split(separator: ",").prefix(20).enumerated() {
            let pieces = part.split(separator: ";")
            guard let tag = pieces.first?.trimmingCharacters(in: .whitespaces).lowercased(), !tag.isEmpty else { continue }
            let primary = String(tag.prefix { $0 != "-" })
            guard (1...8).contains(primary.count), primary.allSatisfy({ $0.isASCII && $0.isLetter }) else { continue }
            let q = pieces.dropFirst().compactMap { p -> Double? in
                let kv = p.split(separator: "=", maxSplits: 1)
                return kv.count == 2 && kv[0].trimmingCharacters(in: .whitespaces) == "q" ? Double(kv[1].trimmingCharacters(in: .whitespaces)) : nil
            }.first ?? 1
            guard q > 0 else { continue }
            ranked.append((primary, q, order))
        }
        return ranked.sorted { $0.q != $1.q ? $0.q > $1.q : $0.order < $1.order }.map(\.language)
    }

    public static func choose(from available: some Collection<String>, acceptLanguage: String?, fallback: [String] = []) -> String? {
        let offered = Set(available)
        for language in preferences(acceptLanguage) + fallback + ["en"] where offered.contains(language) { return language }
        return offered.sorted().first
    }
}
