//! The pages, rendered on the server from the values in `data.rs`. Plain
//! HTML with forms that submit by GET: no script, so every view is a URL
//! (a permalink) and works with JavaScript off.

use maud::{DOCTYPE, Markup, html};

use super::data::{
    AuthorityPage, Freshness, LookupPage, Match, NeighborPage, NeighborRow, NeighborsPage,
    PrefixPage, Rib, RouteRow, StatusPage,
};

const STYLE: &str = include_str!("style.css");

/// A query value, percent-encoded (a `+` in a number must not become a
/// space).
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `url` with `format=json` added.
fn json_twin(url: &str) -> String {
    if url.contains('?') {
        format!("{url}&format=json")
    } else {
        format!("{url}?format=json")
    }
}

fn layout(title: &str, url: &str, fresh: &Freshness, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Trunkline looking glass" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    nav {
                        strong { "Trunkline" }
                        a href="/lg/" { "Status" }
                        a href="/lg/neighbors" { "Neighbors" }
                        a href="/lg/lookup" { "Lookup" }
                        a href="/lg/prefix" { "Prefixes" }
                        a href="/lg/authority" { "Authority" }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer id="freshness" {
                    "Node " strong { (fresh.node) } " (id " (fresh.node_id) "), "
                    "as of raft index " strong id="applied-index" { (fresh.applied_index) }
                    " (commit " (fresh.commit_index) "), generated " (fresh.generated_at) ". "
                    @if fresh.redacted {
                        "Next-hop hosts and addresses are hidden from anonymous viewers. "
                    }
                    a id="permalink" href=(url) { "Permalink" } " · "
                    a id="json" href=(json_twin(url)) { "JSON" }
                }
            }
        }
    }
}

fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

pub fn status(p: &StatusPage, url: &str) -> Markup {
    let body = html! {
        table class="facts" {
            tr { th { "ITAD" } td { (p.itad) } }
            tr { th { "Version" } td { (p.version) } }
            tr { th { "Up" } td { (duration(p.uptime_secs)) } }
            tr { th { "Raft" } td { (p.role) ", term " (p.term) ", leader " (p.leader_id) } }
            tr { th { "Table" } td { (p.prefixes) " prefixes, " (p.routes) " routes" } }
            tr {
                th { "Neighbors" }
                td { a href="/lg/neighbors" { (p.established) " of " (p.neighbors) " established" } }
            }
            tr {
                th { "Authority" }
                td { a href="/lg/authority" { (p.statements) " statements" } }
            }
        }
        h2 { "Plans" }
        table {
            thead { tr { th { "plan" } th class="n" { "prefixes" } th class="n" { "routes" } } }
            tbody {
                @for plan in &p.plans {
                    tr { td { (plan.name) } td class="n" { (plan.prefixes) } td class="n" { (plan.routes) } }
                }
            }
        }
        h2 { "Cluster" }
        table id="members" {
            thead {
                tr {
                    th { "node" } th { "address" } th { "membership" } th { "role" }
                    th class="n" { "applied" } th class="n" { "lag" }
                }
            }
            tbody {
                @for m in &p.members {
                    tr {
                        td { (m.id) }
                        td { (m.addr) }
                        td { @if m.voter { "voter" } @else { "learner" } }
                        td class=(if m.reachable { "" } else { "bad" }) { (m.role) }
                        td class="n" { (m.applied_index) }
                        td class="n" { (m.lag) }
                    }
                }
            }
        }
    };
    layout("Status", url, &p.fresh, body)
}

fn state_class(state: &str) -> &'static str {
    if state == "established" {
        "good"
    } else {
        "bad"
    }
}

pub fn neighbors(p: &NeighborsPage, url: &str) -> Markup {
    let body = html! {
        @if p.neighbors.is_empty() {
            p { "No neighbors are configured." }
        } @else {
            table id="neighbors" {
                thead {
                    tr {
                        th { "neighbor" } th class="n" { "ITAD" } th { "role" } th { "state" }
                        th { "up" } th class="n" { "received" } th class="n" { "accepted" }
                        th class="n" { "refused" } th class="n" { "advertised" } th { "last error" }
                    }
                }
                tbody {
                    @for n in &p.neighbors {
                        tr id={ "neighbor-" (n.name) } {
                            td { a class="neighbor" href={ "/lg/neighbors/" (n.name) } { (n.name) } }
                            td class="n" { (n.itad) }
                            td { (n.role) }
                            td class=(state_class(&n.state)) { (n.state) }
                            td { @if n.uptime_secs > 0 { (duration(n.uptime_secs)) } }
                            td class="n" { (n.received) }
                            td class="n" {
                                a href={ "/lg/neighbors/" (n.name) "?rib=accepted" } { (n.accepted) }
                                @if n.stale > 0 { " (" (n.stale) " stale)" }
                            }
                            td class="n" {
                                a class="refused" href={ "/lg/neighbors/" (n.name) "?rib=refused" } { (n.refused) }
                            }
                            td class="n" { (n.advertised) }
                            td { (n.last_error) }
                        }
                    }
                }
            }
        }
    };
    layout("Neighbors", url, &p.fresh, body)
}

fn neighbor_facts(n: &NeighborRow) -> Markup {
    html! {
        table class="facts" id="session" {
            tr { th { "ITAD" } td { (n.itad) } }
            tr { th { "Role" } td { (n.role) } }
            tr { th { "State" } td class=(state_class(&n.state)) { (n.state) } }
            @if n.node > 0 { tr { th { "Held by node" } td { (n.node) } } }
            @if n.uptime_secs > 0 { tr { th { "Up for" } td { (duration(n.uptime_secs)) } } }
            @if !n.remote.is_empty() { tr { th { "Remote" } td { (n.remote) } } }
            @if !n.addresses.is_empty() { tr { th { "Dials" } td { (n.addresses.join(", ")) } } }
            @if n.hold_time_secs > 0 {
                tr {
                    th { "Timers" }
                    td { "hold " (n.hold_time_secs) " s, graceful restart " (n.restart_time_secs) " s" }
                }
            }
            @if !n.plans.is_empty() { tr { th { "Plans" } td { (n.plans.join(", ")) } } }
            tr { th { "Authority" } td { @if n.authority { "exchanged" } @else { "no" } } }
            tr {
                th { "Routes" }
                td {
                    (n.received) " received, " (n.accepted) " accepted, " (n.refused)
                    " refused, " (n.advertised) " advertised"
                }
            }
            @if !n.last_error.is_empty() { tr { th { "Last error" } td class="bad" { (n.last_error) } } }
        }
    }
}

fn hops(r: &RouteRow) -> Markup {
    html! {
        @for (i, h) in r.next_hops.iter().enumerate() {
            @if i > 0 { br; }
            code { (h.uri) } " " small { (h.priority) "/" (h.weight) }
        }
    }
}

fn path(p: &[u32]) -> String {
    if p.is_empty() {
        "(local)".into()
    } else {
        p.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
    }
}

/// A table of routes; `why` adds the column saying why each was refused.
fn routes(rows: &[RouteRow], why: bool) -> Markup {
    html! {
        table class="routes" {
            thead {
                tr {
                    th { "prefix" } th { "next hops" } th { "path" } th class="n" { "pref" }
                    th { "source" } th { "validation" }
                    @if why { th { "refused because" } }
                }
            }
            tbody {
                @for r in rows {
                    tr {
                        td {
                            a href={ "/lg/prefix?q=" (encode(&r.prefix)) "&match=exact" } { (r.prefix) }
                            @if r.stale { " " span class="bad" { "(stale)" } }
                        }
                        td { (hops(r)) }
                        td { (path(&r.path)) }
                        td class="n" { (r.local_pref) }
                        td { (r.source) }
                        td class=(if r.validation == "invalid" { "bad" } else { "" }) { (r.validation) }
                        @if why { td class="why" { (r.refused.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
    }
}

fn shown_of(shown: usize, total: usize) -> Markup {
    html! {
        p class="count" {
            @if shown < total { "The first " (shown) " of " (total) " routes." }
            @else if total == 1 { "1 route." }
            @else { (total) " routes." }
        }
    }
}

pub fn neighbor(p: &NeighborPage, url: &str) -> Markup {
    let n = &p.neighbor;
    let body = html! {
        (neighbor_facts(n))
        nav class="tabs" {
            @for rib in Rib::ALL {
                @if rib == p.rib {
                    strong { (rib.name()) }
                } @else {
                    a id={ "tab-" (rib.name()) } href={ "/lg/neighbors/" (n.name) "?rib=" (rib.name()) } { (rib.name()) }
                }
            }
        }
        (shown_of(p.routes.len(), p.total))
        (routes(&p.routes, matches!(p.rib, Rib::Received | Rib::Refused | Rib::Accepted)))
    };
    layout(
        &format!("Neighbor {}: {}", n.name, p.rib.name()),
        url,
        &p.fresh,
        body,
    )
}

pub fn lookup(p: &LookupPage, url: &str) -> Markup {
    let body = html! {
        form method="get" action="/lg/lookup" {
            label for="number" { "Number " }
            input id="number" name="number" value=(p.number) placeholder="+15551234567";
            button type="submit" { "Look up" }
        }
        @if let Some(e) = &p.error { p class="bad" id="error" { (e) } }
        @if let Some(r) = &p.result {
            p { (r.number) " matches " strong id="matched" { (r.matched_prefix) } "." }
            h2 { "Next hops, in order" }
            ol id="next-hops" {
                @for h in &r.next_hops {
                    li { code { (h.uri) } " " small { "priority " (h.priority) ", weight " (h.weight) } }
                }
            }
            h2 { "Candidates (explain)" }
            table id="candidates" {
                thead {
                    tr {
                        th { "verdict" } th { "why" } th { "next hops" } th { "path" } th class="n" { "pref" }
                        th { "source" } th { "validation" }
                    }
                }
                tbody {
                    @for c in &r.candidates {
                        tr {
                            td class=(if c.verdict == "best" { "good" } else { "" }) {
                                @if c.verdict == "best" { "best" } @else { "lost at " (c.verdict) }
                            }
                            td { (c.reason) }
                            td { (hops(&c.route)) }
                            td { (path(&c.route.path)) }
                            td class="n" { (c.route.local_pref) }
                            td { (c.route.source) @if c.route.stale { " (stale)" } }
                            td { (c.route.validation) }
                        }
                    }
                }
            }
        }
    };
    layout("Lookup", url, &p.fresh, body)
}

pub fn prefix(p: &PrefixPage, url: &str) -> Markup {
    let body = html! {
        form method="get" action="/lg/prefix" {
            label for="q" { "Prefix " }
            input id="q" name="q" value=(p.query) placeholder="+1555";
            select name="match" {
                @for m in Match::ALL {
                    option value=(m.name()) selected[m == p.matching] { (m.name()) }
                }
            }
            button type="submit" { "Search" }
        }
        @if let Some(e) = &p.error { p class="bad" id="error" { (e) } }
        @if !p.query.is_empty() && p.error.is_none() {
            (shown_of(p.routes.len(), p.total))
            (routes(&p.routes, false))
        }
    };
    layout("Prefixes", url, &p.fresh, body)
}

pub fn authority(p: &AuthorityPage, url: &str) -> Markup {
    let body = html! {
        p { "Statements are judged at replicated time " (p.now) " (unix seconds)." }
        h2 { "Trust anchors" }
        @if p.anchors.is_empty() { p { "None configured: every route is not-found." } }
        ul { @for a in &p.anchors { li { code { (a) } } } }
        h2 { "Statements" }
        table id="statements" {
            thead { tr { th { "kind" } th { "what" } th { "status" } th { "id" } } }
            tbody {
                @for s in &p.statements {
                    tr {
                        td { (s.kind) }
                        td { (s.summary) }
                        td class=(if s.status == "effective" { "good" } else { "bad" }) { (s.status) }
                        td { code { (s.id) } }
                    }
                }
            }
        }
    };
    layout("Number authority", url, &p.fresh, body)
}

/// A page for an error: a bad query, an unknown neighbor, a node that
/// cannot answer.
pub fn problem(status: u16, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Error " (status) " · Trunkline looking glass" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header { nav { strong { "Trunkline" } a href="/lg/" { "Status" } a href="/lg/neighbors" { "Neighbors" } } }
                main { h1 { "Error " (status) } p class="bad" id="error" { (message) } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_keep_their_plus_signs() {
        assert_eq!(encode("+1555 12"), "%2B1555%2012");
        assert_eq!(encode("npstn:5582"), "npstn%3A5582");
        assert_eq!(json_twin("/lg/neighbors"), "/lg/neighbors?format=json");
        assert_eq!(
            json_twin("/lg/lookup?number=%2B1"),
            "/lg/lookup?number=%2B1&format=json"
        );
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(125), "2m05s");
        assert_eq!(duration(7260), "2h01m");
        assert_eq!(duration(90000), "1d01h");
    }
}
