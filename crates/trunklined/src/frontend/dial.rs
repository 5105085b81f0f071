//! Asterisk dial strings from next-hop URIs, for `CURL()` in a dialplan.

use std::fmt;
use std::str::FromStr;

/// The Asterisk channel technology a dial string is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tech {
    /// `PJSIP/endpoint/sip:user@host`: chan_pjsip sends to the URI through
    /// the named endpoint (its transport, codecs, auth).
    Pjsip,
    /// `SIP/user@host:port`: the old chan_sip.
    Sip,
    /// `IAX2/[user[:secret]@]host[:port]/exten`.
    Iax2,
}

impl FromStr for Tech {
    type Err = String;
    fn from_str(s: &str) -> Result<Tech, String> {
        match s.to_ascii_lowercase().as_str() {
            "pjsip" => Ok(Tech::Pjsip),
            "sip" => Ok(Tech::Sip),
            "iax2" => Ok(Tech::Iax2),
            _ => Err(format!("tech {s:?}: one of pjsip, sip, iax2")),
        }
    }
}

impl fmt::Display for Tech {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tech::Pjsip => "pjsip",
            Tech::Sip => "sip",
            Tech::Iax2 => "iax2",
        })
    }
}

/// Characters that mean something to Asterisk once a dial string is
/// substituted into `Dial(${DEST})`: `,` ends the argument, `&` adds a
/// channel, `(`, `)` and `^` build options that could send the answered call
/// anywhere in the dialplan. URIs learned from peers must not carry them.
const DIALPLAN_SYNTAX: &[char] = &[',', '&', '(', ')', '^', '|', '"', '\\', '$', '{', '}'];

/// The dial string for `uri` (already expanded for the dialed number), if
/// the URI's scheme suits `tech` and the URI holds no dialplan syntax.
/// `endpoint` is the PJSIP endpoint to send through.
pub fn dial_string(tech: Tech, endpoint: &str, uri: &str) -> Option<String> {
    if uri.contains(DIALPLAN_SYNTAX) || endpoint.contains(DIALPLAN_SYNTAX) {
        return None;
    }
    let (scheme, rest) = uri.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    match tech {
        Tech::Pjsip if scheme == "sip" || scheme == "sips" => {
            Some(format!("PJSIP/{endpoint}/{uri}"))
        }
        Tech::Sip if scheme == "sip" => {
            // chan_sip takes user@host[:port]; URI parameters and headers
            // have no place in it.
            let target = rest.split([';', '?']).next().unwrap_or(rest);
            (!target.is_empty()).then(|| format!("SIP/{target}"))
        }
        Tech::Iax2 if scheme == "iax2" => (!rest.is_empty()).then(|| format!("IAX2/{rest}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_strings() {
        let cases = [
            (
                Tech::Pjsip,
                "sip:+15551234567@pbx.example",
                Some("PJSIP/trunkline/sip:+15551234567@pbx.example"),
            ),
            (
                Tech::Pjsip,
                "sips:+1555@pbx.example:5061",
                Some("PJSIP/trunkline/sips:+1555@pbx.example:5061"),
            ),
            (Tech::Pjsip, "iax2:pbx.example/1555", None),
            (
                Tech::Sip,
                "sip:+15551234567@pbx.example:5070;transport=tcp",
                Some("SIP/+15551234567@pbx.example:5070"),
            ),
            (Tech::Sip, "sips:x@y", None),
            (Tech::Sip, "sip:", None),
            (
                Tech::Iax2,
                "iax2:guest@pbx.example/15551234567",
                Some("IAX2/guest@pbx.example/15551234567"),
            ),
            (Tech::Iax2, "tel:+15551234567", None),
            // A peer's URI that would add a channel or Dial() options.
            (Tech::Pjsip, "sip:+1@evil.example&PJSIP/x/sip:a@b", None),
            (Tech::Pjsip, "sip:x@h,1,G(ctx^ext^1)", None),
            (Tech::Iax2, "iax2:guest@h/1,1,U(x)", None),
        ];
        for (tech, uri, want) in cases {
            assert_eq!(
                dial_string(tech, "trunkline", uri).as_deref(),
                want,
                "{tech} {uri}"
            );
        }
        assert_eq!("PJSIP".parse::<Tech>(), Ok(Tech::Pjsip));
        assert!("dahdi".parse::<Tech>().is_err());
    }
}
