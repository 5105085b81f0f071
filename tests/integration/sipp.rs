//! The real `sipp` (Debian sip-tester, installed by the test script) as a
//! caller or as the far PBX, shared by the SIP tests.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::free_port;

pub fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/sipp/{name}.xml"))
}

fn command(dir: &Path, scenario_name: &str, local_port: u16, transport: &str) -> Command {
    let mut c = Command::new("sipp");
    c.current_dir(dir).args([
        "-sf",
        scenario(scenario_name).to_str().unwrap(),
        "-m",
        "1",
        "-t",
        transport,
        "-i",
        "127.0.0.1",
        "-p",
        &local_port.to_string(),
        "-timeout",
        "15s",
        "-nostdin",
        "-trace_err",
        "-trace_msg",
    ]);
    c
}

/// sipp's output and the error and message logs it wrote in `dir`.
fn report(dir: &Path, out: &Output) -> String {
    let logs = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    format!(
        "{}\n{}\n{logs}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Places one call of a scenario to `target` for `number`; true if the
/// scenario passed, with sipp's output and logs.
pub fn call(target: u16, scenario_name: &str, number: &str, transport: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), scenario_name, free_port(), transport)
        .args([&format!("127.0.0.1:{target}"), "-s", number])
        .output()
        .expect("sipp is installed (scripts/test installs sip-tester)");
    (out.status.success(), report(dir.path(), &out))
}

/// A sipp playing the far PBX: answers one call on its port (UDP).
pub struct Uas {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Uas {
    pub fn start(scenario_name: &str) -> Uas {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = command(dir.path(), scenario_name, port, "u1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp is installed (scripts/test installs sip-tester)");
        // sipp binds its port at start; give it that moment.
        std::thread::sleep(Duration::from_millis(200));
        Uas {
            port,
            dir,
            child: Some(child),
        }
    }

    /// Waits for the one call to finish: true if the scenario passed, with
    /// sipp's output and the messages it received.
    pub fn finish(mut self, timeout: Duration) -> (bool, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        (out.status.success(), report(self.dir.path(), &out))
    }
}

impl Drop for Uas {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One UDP request, its answer.
pub fn udp_exchange(port: u16, text: &str) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    s.send_to(text.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 8192];
    let n = s.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A minimal request, as a PBX would send it over UDP.
pub fn request(method: &str, uri: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{method}\r\nFrom: <sip:t@x>;tag=1\r\nTo: <{uri}>\r\nCall-ID: raw-{method}@x\r\nCSeq: 7 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}
