//! The loader service's guard rails, with its own service on a 4 KiB ring
//! (so a busy job overflows it; other jobs of this binary may drop too):
//! drops are reported, peers are checked (SO_PEERCRED), and a client of
//! another version is refused.

mod common;

use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use common::*;
use roar_ebpf::proto;

fn small_ring_service() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("ROAR_EBPF_RING_BYTES", "4096"));
    service();
}

#[test]
fn a_full_ring_is_reported_as_drops() {
    small_ring_service();
    let d = tmpdir("drops");
    let s = py(
        &d,
        "import os\nos.mkdir('m')\nfor i in range(3000):\n    open(f'm/f{i}', 'w').close()\n",
    );
    assert_eq!(s.exit_code, 0);
    let w: Vec<&String> = s
        .warnings
        .iter()
        .filter(|w| w.contains("dropped"))
        .collect();
    assert_eq!(w.len(), 1, "{:?}", s.warnings);
    assert!(
        w[0].starts_with("the eBPF ring buffer dropped ")
            && w[0].ends_with(" events; this run's provenance is incomplete"),
        "{}",
        w[0]
    );
}

fn reply(stream: &mut UnixStream) -> (u8, Vec<u8>) {
    proto::read_frame(stream).expect("a reply")
}

#[test]
fn a_client_of_another_version_is_refused() {
    small_ring_service();
    let mut s = UnixStream::connect(roar_ebpf::socket_path()).expect("connect");
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    proto::write_frame(
        &mut s,
        proto::START,
        &proto::start_payload("0.0.0-other", me),
    )
    .expect("send");
    let (ty, msg) = reply(&mut s);
    assert_eq!(ty, proto::ERR);
    assert!(String::from_utf8_lossy(&msg).contains("version"));
}

/// As user `nobody`: tracing a root process is refused, tracing one's own
/// child is accepted.
#[test]
fn non_root_peers_may_only_trace_their_own_processes() {
    small_ring_service();
    let code = r#"
import os, socket, struct, sys
sock, version = sys.argv[1], sys.argv[2].encode()
def start(pid):
    s = socket.socket(socket.AF_UNIX); s.connect(sock)
    p = struct.pack('=IH', 0x524f4152, len(version)) + version + struct.pack('=i', pid)
    s.sendall(struct.pack('=IB', len(p) + 1, 1) + p)
    n = struct.unpack('=I', s.recv(4, socket.MSG_WAITALL))[0]
    body = s.recv(n, socket.MSG_WAITALL)
    return s, body[0], body[1:]
s, ty, msg = start(1)
print(ty, msg.decode(errors='replace'))
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.read(r, 1); os._exit(0)
s2, ty2, _ = start(child)
print(ty2)
s2.close(); os.write(w, b'x'); os.waitpid(child, 0)
"#;
    // The system python: a per-user install (pyenv) may not be readable by nobody.
    let out = Command::new("/usr/bin/python3")
        .args(["-c", code])
        .current_dir("/")
        .arg(roar_ebpf::socket_path())
        .arg(roar_ebpf::version())
        .uid(65534)
        .gid(65534)
        .output()
        .expect("python3 as nobody");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{} ", proto::ERR)) && lines[0].contains("another user"),
        "{text}"
    );
    assert_eq!(lines[1], proto::ACK.to_string(), "{text}");
}
