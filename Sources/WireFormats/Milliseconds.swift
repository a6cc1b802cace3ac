extension Duration {
    /// The duration in milliseconds, the unit of every `*ms` field the server logs.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
