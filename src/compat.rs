//! Pure compatibility rules: (checkpoint facts, host facts, options) → report.
