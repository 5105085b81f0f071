//! What `trunkline join` writes: the member node's config (its identity
//! from the exchange, its certificate, the exchange as its one peer, its
//! blocks) and the snippet its PBX needs.

use std::net::SocketAddr;
use std::path::Path;

use trunkline_proto::v1 as pb;

/// The PBX a snippet is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pbx {
    /// Asterisk or FreePBX: CURL() asks the HTTP lookup.
    Asterisk,
    /// FreeSWITCH: mod_enum asks the DNS front end.
    Freeswitch,
    /// Kamailio: follows the SIP redirect server's 302.
    Kamailio,
}

/// Where the member node listens: loopback, for the PBX on its host.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    pub api: SocketAddr,
    pub http: SocketAddr,
    pub cluster: SocketAddr,
    pub sip: SocketAddr,
    pub dns: SocketAddr,
}

fn quoted(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    q.join(", ")
}

/// The node's config, every path absolute (`dir` is).
pub fn config(j: &pb::JoinResponse, dir: &Path, via: &[String], pbx: Pbx, at: &Listen) -> String {
    let path = |f: &str| format!("{:?}", dir.join(f).display().to_string());
    let mut c = format!(
        "# Written by `trunkline join`: this node is {member} (ITAD {itad}), a member of the\n\
         # exchange {ex} (ITAD {ex_itad}). Its key was made here and never left this machine.\n\
         [node]\nid = 1\nname = {member:?}\nitad = {itad}\ndata_dir = {data}\n\n\
         [api]\nlisten = \"{api}\"\n\n[http]\nlisten = \"{http}\"\n\n[cluster]\nlisten = \"{cluster}\"\n\n\
         # The certificate the exchange signed: trunkline:peer:{itad}:{member}.\n\
         [peering.tls]\ncert = {cert}\nkey = {key}\nca = {ca}\n",
        member = j.member,
        itad = j.itad,
        ex = j.exchange_name,
        ex_itad = j.exchange_itad,
        data = path("data"),
        api = at.api,
        http = at.http,
        cluster = at.cluster,
        cert = path("peer.crt"),
        key = path("peer.key"),
        ca = path("ca.crt"),
    );
    match pbx {
        Pbx::Kamailio => c.push_str(&format!(
            "\n# The SIP redirect server Kamailio asks.\n[sip]\nenabled = true\nlisten = \"{}\"\n",
            at.sip
        )),
        Pbx::Freeswitch => c.push_str(&format!(
            "\n# ENUM for mod_enum, which asks port 53 (binding it needs root or\n\
             # CAP_NET_BIND_SERVICE).\n[dns]\nenabled = true\nlisten = \"{}\"\n\
             zones = [{{ name = \"e164.arpa.\", plan = \"e164\" }}]\n",
            at.dns
        )),
        Pbx::Asterisk => {}
    }
    for a in &j.anchors {
        c.push_str(&format!(
            "\n[[anchor]]\nname = {:?}\nkey = {:?}\nplan = {:?}\nmax_depth = {}\n",
            a.name, a.key, a.plan, a.max_depth
        ));
    }
    if !via.is_empty() {
        for block in &j.allowed {
            c.push_str(&format!(
                "\n[[route]]\nprefix = {block:?}\nvia = [{}]\n",
                quoted(via)
            ));
        }
    }
    c.push_str(&format!(
        "\n# The exchange: any of its nodes will do. It is a route server, so its\n\
         # routes start with the origin's ITAD.\n[[peer]]\nname = {ex:?}\nitad = {ex_itad}\n\
         addresses = [{addrs}]\ntransparent = true\n\
         [[peer.import]]\naction = \"accept\"\n\
         # Only this member's own blocks go to the exchange.\n\
         [[peer.export]]\nprefixes = [{blocks}]\naction = \"accept\"\n",
        ex = j.exchange_name,
        ex_itad = j.exchange_itad,
        addrs = quoted(&j.addresses),
        blocks = quoted(&j.allowed),
    ));
    c
}

/// What to paste into the PBX.
pub fn snippet(pbx: Pbx, at: &Listen) -> String {
    match pbx {
        Pbx::Asterisk => format!(
            "; extensions.conf: include => trunkline in the context your phones dial from.\n\
             ; Dial() uses the PJSIP endpoint `trunkline` (pjsip.conf in\n\
             ; /usr/share/doc/trunkline/examples/asterisk/).\n\
             [globals]\nTRUNKLINE_HTTP=http://{http}\n\n[trunkline]\n\
             exten => _+X.,1,Set(I=1)\n \
             same => n(next),Set(DEST=${{CURL(${{TRUNKLINE_HTTP}}/v1/lookup/${{EXTEN}}?format=dial&tech=pjsip&endpoint=trunkline&index=${{I}})}})\n \
             same => n,GotoIf($[\"${{DEST}}\" = \"\"]?unrouted)\n \
             same => n,Dial(${{DEST}},60)\n \
             same => n,GotoIf($[\"${{DIALSTATUS}}\" != \"CHANUNAVAIL\" & \"${{DIALSTATUS}}\" != \"CONGESTION\"]?done)\n \
             same => n,Set(I=$[${{I}} + 1])\n \
             same => n,Goto(next)\n \
             same => n(unrouted),GotoIf($[${{I}} > 1]?done)\n \
             same => n,Playback(ss-noservice)\n \
             same => n(done),Hangup()\n",
            http = at.http
        ),
        Pbx::Freeswitch => format!(
            "<!-- autoload_configs/enum.conf.xml (load mod_enum) -->\n\
             <configuration name=\"enum.conf\" description=\"ENUM through Trunkline\">\n  <settings>\n    \
             <param name=\"default-root\" value=\"e164.arpa\"/>\n    \
             <param name=\"nameserver\" value=\"{dns}\"/>\n  </settings>\n  <routes>\n    \
             <route service=\"E2U+SIP\" regex=\"sip:(.*)\" replace=\"sofia/external/$1\"/>\n  </routes>\n\
             </configuration>\n\
             <!-- dialplan/default/trunkline.xml -->\n\
             <extension name=\"trunkline\">\n  <condition field=\"destination_number\" expression=\"^(\\+\\d{{6,15}})$\">\n    \
             <action application=\"enum\" data=\"$1 e164.arpa\"/>\n    \
             <action application=\"set\" data=\"continue_on_fail=true\"/>\n    \
             <action application=\"bridge\" data=\"${{enum_auto_route}}\"/>\n  </condition>\n</extension>\n",
            dns = at.dns.ip()
        ),
        Pbx::Kamailio => format!(
            "# Kamailio following Trunkline's 302:\n\
             kamailio -f /usr/share/doc/trunkline/examples/kamailio.cfg -l udp:<this host>:5060 -A WITH_REDIRECT \\\n  -A 'TRUNKLINE_SIP=\"sip:{sip}\"'\n",
            sip = at.sip
        ),
    }
}
