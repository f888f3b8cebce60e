//! Outcomes, the results matrix and its renderings.

use std::fmt::Write;

use serde::Serialize;

use crate::attacks::{AttackId, Capabilities};

/// The oracle's verdict on one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// C reported attested OK and the attacker (or its diversion target)
    /// read C's application data in plaintext.
    Succeeded {
        /// Who read what.
        how: String,
    },
    /// C refused; `check` names the check that refused.
    Refused {
        /// EAR finding names, error variant or alert.
        check: String,
        /// C's error message.
        detail: String,
    },
    /// C reported attested OK but the attacker read nothing: neither a
    /// success nor a refusal.
    AcceptedNotRead {
        /// What happened.
        detail: String,
    },
    /// The attack does not apply to the mode.
    NotApplicable {
        /// Why.
        reason: String,
    },
    /// The attack applies but the lab does not build it on this stack.
    NotBuilt {
        /// Why.
        reason: String,
    },
    /// The lab itself failed (not a verdict).
    Error {
        /// What failed.
        detail: String,
    },
}

impl Outcome {
    /// The matrix cell.
    pub fn cell(&self) -> String {
        match self {
            Self::Succeeded { .. } => "SUCCEEDED".into(),
            Self::Refused { check, .. } => format!("refused by {check}"),
            Self::AcceptedNotRead { .. } => "accepted, not read".into(),
            Self::NotApplicable { reason } => format!("not applicable: {reason}"),
            Self::NotBuilt { reason } => format!("not built: {reason}"),
            Self::Error { detail } => format!("lab error: {detail}"),
        }
    }

    /// Whether the attack succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Succeeded { .. })
    }
}

/// A party of the message-sequence diagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Party {
    /// The victim client.
    C,
    /// The attacker.
    A,
    /// The TEE the client meant.
    T1,
    /// Another genuine TEE.
    T2,
}

impl Party {
    fn lane(self) -> usize {
        match self {
            Self::C => 0,
            Self::A => 1,
            Self::T1 => 2,
            Self::T2 => 3,
        }
    }
}

/// One message (or a note when `from == to`) of an attack's trace.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Sender.
    pub from: Party,
    /// Receiver.
    pub to: Party,
    /// What.
    pub label: String,
}

impl Step {
    /// A message.
    pub fn new(from: Party, to: Party, label: impl Into<String>) -> Self {
        Self {
            from,
            to,
            label: label.into(),
        }
    }
    /// A note on one party's lane.
    pub fn note(at: Party, label: impl Into<String>) -> Self {
        Self::new(at, at, label)
    }
}

/// One cell of the matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Mode configuration (`expat+I2`).
    pub mode: String,
    /// Mode family (`expat`, `early`).
    pub family: String,
    /// Whether a success here fails the lab (the default mode with its
    /// default policy; `early` with I1 or I2).
    pub gating: bool,
    /// The attack.
    pub attack: AttackId,
    /// Its capabilities.
    pub capabilities: Capabilities,
    /// What happened.
    pub outcome: Outcome,
    /// What the attacker did.
    pub trace: Vec<Step>,
}

/// The most mode columns of one Markdown table ([`LabReport::to_markdown`]).
pub const MARKDOWN_MODES_PER_TABLE: usize = 8;

/// The results of [`crate::run_lab`].
#[derive(Clone, Debug, Serialize)]
pub struct LabReport {
    /// Mode x attack, in run order.
    pub rows: Vec<Row>,
}

impl LabReport {
    /// The rows whose success fails the lab.
    pub fn gating_failures(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.gating && r.outcome.succeeded()).collect()
    }

    /// The row of `attack` against `mode`.
    pub fn get(&self, mode: &str, attack: AttackId) -> Option<&Row> {
        self.rows.iter().find(|r| r.mode == mode && r.attack == attack)
    }

    /// JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    fn modes(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for r in &self.rows {
            if !v.contains(&r.mode) {
                v.push(r.mode.clone());
            }
        }
        v
    }

    fn attacks(&self) -> Vec<AttackId> {
        let mut v: Vec<AttackId> = Vec::new();
        for r in &self.rows {
            if !v.contains(&r.attack) {
                v.push(r.attack);
            }
        }
        v
    }

    /// The terminal table: one line per attack x mode, grouped by attack.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        // Column widths from the data, so that a long mode name
        // ("b5-nonce-early-exporter+I2") does not push the result column.
        let caps: Vec<String> = self.rows.iter().map(|r| r.capabilities.to_string()).collect();
        let attack_w = self
            .rows
            .iter()
            .map(|r| r.attack.id().len())
            .chain([6])
            .max()
            .unwrap_or(6);
        let caps_w = caps.iter().map(String::len).chain([12]).max().unwrap_or(12);
        let mode_w = self.rows.iter().map(|r| r.mode.len()).chain([4]).max().unwrap_or(4);
        let _ = writeln!(
            s,
            "{:<attack_w$} {:<caps_w$} {:<mode_w$} result",
            "attack", "capabilities", "mode"
        );
        for a in self.attacks() {
            for (r, c) in self.rows.iter().zip(&caps).filter(|(r, _)| r.attack == a) {
                let mark = if r.gating && r.outcome.succeeded() {
                    "  <-- FAILS THE LAB"
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    "{:<attack_w$} {:<caps_w$} {:<mode_w$} {}{mark}",
                    a.id(),
                    c,
                    r.mode,
                    r.outcome.cell()
                );
            }
        }
        let failures = self.gating_failures();
        if failures.is_empty() {
            let _ = writeln!(
                s,
                "\nno attack succeeded against the default mode with its default policy (I2) or against early with I1 or I2"
            );
        } else {
            let _ = writeln!(
                s,
                "\n{} attack(s) succeeded where none may (default mode with I2; early with I1 or I2)",
                failures.len()
            );
        }
        s
    }

    /// The Markdown matrices (attacks x modes), cells as [`Outcome::cell`]
    /// (shortened for not applicable / not built): one table per group of
    /// whole families of at most [`MARKDOWN_MODES_PER_TABLE`] modes, so
    /// that each stays readable; an attack not applicable to any mode of a
    /// table is left out of it (its reasons are in the JSON).
    pub fn to_markdown(&self) -> String {
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut family_modes: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.rows {
            match family_modes.iter_mut().find(|(f, _)| *f == r.family) {
                Some((_, ms)) if !ms.contains(&r.mode) => ms.push(r.mode.clone()),
                Some(_) => {}
                None => family_modes.push((r.family.clone(), vec![r.mode.clone()])),
            }
        }
        for (_, ms) in family_modes {
            match groups.last_mut() {
                Some(g) if g.len() + ms.len() <= MARKDOWN_MODES_PER_TABLE => g.extend(ms),
                _ => groups.push(ms),
            }
        }
        let mut s = String::new();
        for (i, modes) in groups.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            let _ = writeln!(s, "| attack | capabilities | {} |", modes.join(" | "));
            let _ = writeln!(s, "|---|---|{}", "---|".repeat(modes.len()));
            for a in self.attacks() {
                let cells: Vec<&Row> = modes.iter().filter_map(|m| self.get(m, a)).collect();
                if cells.iter().all(|r| matches!(r.outcome, Outcome::NotApplicable { .. })) {
                    continue;
                }
                let _ = write!(s, "| {} | {} |", a.id(), a.capabilities());
                for m in modes {
                    let cell = self.get(m, a).map(|r| short_cell(&r.outcome)).unwrap_or_default();
                    let _ = write!(s, " {} |", cell.replace('|', "\\|"));
                }
                s.push('\n');
            }
        }
        s
    }

    /// One self-contained HTML page: the matrix, then per attack its
    /// description and an SVG message-sequence diagram of what the attacker
    /// did (from the first mode where it ran).
    pub fn to_html(&self) -> String {
        let modes = self.modes();
        let mut s = String::from(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>attested-tls attack lab</title><style>\
             body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px;font-size:12px;vertical-align:top}\
             .ok{background:#f8c0c0;font-weight:bold}.ref{background:#d0f0d0}.na{background:#eee;color:#666}.nb{background:#fff0c0}.err{background:#f0d0f0}\
             </style></head><body><h1>attested-tls attack lab</h1>\
             <p>SUCCEEDED: the victim client reported attested OK and the attacker (or its diversion target) read the client's data in plaintext. \
             Refusals name the check that refused.</p><table><tr><th>attack</th><th>capabilities</th>",
        );
        for m in &modes {
            let _ = write!(s, "<th>{}</th>", esc(m));
        }
        s.push_str("</tr>");
        for a in self.attacks() {
            let _ = write!(
                s,
                "<tr><td><a href=\"#{0}\">{0}</a></td><td>{1}</td>",
                esc(a.id()),
                a.capabilities()
            );
            for m in &modes {
                match self.get(m, a) {
                    Some(r) => {
                        let class = match r.outcome {
                            Outcome::Succeeded { .. } => "ok",
                            Outcome::Refused { .. } => "ref",
                            Outcome::NotApplicable { .. } => "na",
                            Outcome::NotBuilt { .. } => "nb",
                            _ => "err",
                        };
                        let _ = write!(
                            s,
                            "<td class=\"{class}\" title=\"{}\">{}</td>",
                            esc(&detail(&r.outcome)),
                            esc(&r.outcome.cell())
                        );
                    }
                    None => s.push_str("<td></td>"),
                }
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
        for a in self.attacks() {
            let _ = write!(s, "<h2 id=\"{0}\">{0}</h2><p>{1}</p>", esc(a.id()), esc(a.title()));
            match self.rows.iter().find(|r| r.attack == a && !r.trace.is_empty()) {
                Some(r) => {
                    let _ = write!(s, "<p>diagram of the run against {}</p>", esc(&r.mode));
                    s.push_str(&svg(&r.trace));
                }
                None => s.push_str("<p>(not run in any mode)</p>"),
            }
        }
        s.push_str("</body></html>\n");
        s
    }
}

fn short_cell(o: &Outcome) -> String {
    match o {
        Outcome::NotApplicable { .. } => "n/a".into(),
        Outcome::NotBuilt { .. } => "not built".into(),
        other => other.cell(),
    }
}

fn detail(o: &Outcome) -> String {
    match o {
        Outcome::Succeeded { how } => how.clone(),
        Outcome::Refused { detail, .. } => detail.clone(),
        Outcome::AcceptedNotRead { detail } | Outcome::Error { detail } => detail.clone(),
        Outcome::NotApplicable { reason } | Outcome::NotBuilt { reason } => reason.clone(),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A message-sequence diagram: one lane per party, one arrow per step.
fn svg(trace: &[Step]) -> String {
    const LANE: usize = 220;
    const LEFT: usize = 90;
    const ROW: usize = 34;
    // Labels start at the arrow's left end and may run past the last
    // lane: room for them on the right.
    let width = LEFT * 2 + LANE * 3 + 320;
    let height = 60 + ROW * (trace.len() + 1);
    let x = |p: crate::report::Party| LEFT + LANE * p.lane();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-size=\"11\" font-family=\"sans-serif\">\
         <defs><marker id=\"h\" markerWidth=\"8\" markerHeight=\"8\" refX=\"8\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\"/></marker></defs>"
    );
    for (p, name) in [
        (Party::C, "C (victim)"),
        (Party::A, "A (attacker)"),
        (Party::T1, "T1 (meant)"),
        (Party::T2, "T2 (other TEE)"),
    ] {
        let _ = write!(
            s,
            "<text x=\"{0}\" y=\"20\" text-anchor=\"middle\" font-weight=\"bold\">{name}</text>\
             <line x1=\"{0}\" y1=\"28\" x2=\"{0}\" y2=\"{1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>",
            x(p),
            height - 10
        );
    }
    for (i, step) in trace.iter().enumerate() {
        let y = 56 + ROW * i;
        if step.from == step.to {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{y}\" fill=\"#a00\">{}</text>",
                x(step.from) + 6,
                esc(&step.label)
            );
        } else {
            let (x1, x2) = (x(step.from), x(step.to));
            let _ = write!(
                s,
                "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"black\" marker-end=\"url(#h)\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                x1.min(x2) + 4,
                y - 5,
                esc(&step.label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: &str, gating: bool, outcome: Outcome) -> Row {
        Row {
            mode: mode.into(),
            family: "expat".into(),
            gating,
            attack: AttackId::D1,
            capabilities: AttackId::D1.capabilities(),
            outcome,
            trace: vec![Step::new(Party::C, Party::A, "a <b> & c"), Step::note(Party::C, "note")],
        }
    }

    /// Guards the exit rule: only successes in gated configurations count;
    /// refusals there and successes elsewhere do not.
    #[test]
    fn only_successes_in_gated_configurations_fail_the_lab() {
        let ok = || Outcome::Succeeded { how: "read".into() };
        let refused = || Outcome::Refused {
            check: "EAR finding sim.instance_id".into(),
            detail: String::new(),
        };
        let report = LabReport {
            rows: vec![row("expat", false, ok()), row("expat+I2", true, refused())],
        };
        assert!(report.gating_failures().is_empty());
        assert!(!report.to_table().contains("FAILS THE LAB"));
        let report = LabReport {
            rows: vec![row("early+I1", true, ok())],
        };
        assert_eq!(report.gating_failures().len(), 1);
        assert!(report.to_table().contains("SUCCEEDED  <-- FAILS THE LAB"));
    }

    /// Guards the HTML page: labels are escaped, one SVG per attack run.
    #[test]
    fn html_escapes_labels_and_draws_the_trace() {
        let report = LabReport {
            rows: vec![row("expat", false, Outcome::NotBuilt { reason: "x|y".into() })],
        };
        let html = report.to_html();
        assert!(html.contains("a &lt;b&gt; &amp; c") && !html.contains("a <b>"));
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(report.to_markdown().contains("| not built |"));
    }

    #[test]
    fn capabilities_are_named_as_in_the_spec() {
        assert_eq!(
            AttackId::R4.capabilities().to_string(),
            "net+observe-evidence+leak-tls-key"
        );
        assert_eq!(
            AttackId::PhForwardLeaked.capabilities().to_string(),
            "net+leak-tls-key+leak-ltk"
        );
        assert_eq!(Capabilities::default().to_string(), "none");
    }
}
