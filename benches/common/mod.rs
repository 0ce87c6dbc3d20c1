//! What the benchmarks share: a work folder in tmpfs, test files and trees,
//! children that end with the run, and vsftpd's settings.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A work folder in tmpfs, removed at the end.
pub struct Work(pub PathBuf);

impl Work {
    pub fn new(name: &str) -> Work {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("dialback-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Work(dir)
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.0.join(name);
        fs::create_dir_all(&d).unwrap();
        d
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Fills a file with `len` bytes of a cheap pattern, in 1 MiB writes.
pub fn make_file(path: &Path, len: u64, seed: u64) {
    let mut f = fs::File::create(path).unwrap();
    let mut block = vec![0u8; 1 << 20];
    let mut x = seed | 1;
    for chunk in block.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        block[0] = block[0].wrapping_add(1);
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
}

/// `folders` folders `dNN` of `files` files `fNN.bin` of 4 KiB each.
pub fn make_tree(top: &Path, folders: usize, files: usize) {
    for d in 0..folders {
        let folder = top.join(format!("d{d:02}"));
        fs::create_dir_all(&folder).unwrap();
        for f in 0..files {
            make_file(
                &folder.join(format!("f{f:02}.bin")),
                4096,
                (d * files + f) as u64,
            );
        }
    }
}

/// Whether two folders hold the same tree, byte for byte (`diff -r`).
pub fn same_tree(a: &Path, b: &Path) -> bool {
    Command::new("diff")
        .arg("-rq")
        .args([a, b])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A child process killed at the end of the run.
pub struct Started(pub Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `program` runs here (`program --version`).
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// vsftpd in the foreground on `address:port`, run through `launch` (a
/// command that takes vsftpd's path and arguments after its own: `env`, or
/// `ip netns exec NS`), anonymous, read-write in `root/up` (given to the
/// `ftp` user), both modes, sendfile, no limits. Needs root, as vsftpd does.
pub fn spawn_vsftpd(
    mut launch: Command,
    work: &Work,
    root: &Path,
    address: &str,
    port: u16,
) -> Result<Started, String> {
    let bin = ["/usr/sbin/vsftpd", "/usr/bin/vsftpd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("vsftpd not installed (apt-get install vsftpd)")?;
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("vsftpd needs root".into());
    }
    let up = root.join("up");
    fs::create_dir_all(&up).unwrap();
    let chown = Command::new("chown").arg("ftp:ftp").arg(&up).status();
    if !chown.is_ok_and(|s| s.success()) {
        return Err("no `ftp` user for vsftpd's uploads".into());
    }
    let settings = [
        "listen=YES",
        "listen_ipv6=NO",
        &format!("listen_address={address}"),
        &format!("listen_port={port}"),
        "background=NO",
        "anonymous_enable=YES",
        "local_enable=NO",
        "no_anon_password=YES",
        "write_enable=YES",
        "anon_upload_enable=YES",
        "anon_mkdir_write_enable=YES",
        "anon_umask=022",
        &format!("anon_root={}", root.display()),
        &format!("secure_chroot_dir={}", work.dir("vsftpd-empty").display()),
        "pasv_enable=YES",
        "port_enable=YES",
        "connect_from_port_20=NO",
        "use_sendfile=YES",
        "xferlog_enable=NO",
        "dirmessage_enable=NO",
        "seccomp_sandbox=NO",
        "max_clients=0",
        "max_per_ip=0",
        "pam_service_name=vsftpd",
    ];
    let conf = work.0.join("vsftpd.conf");
    fs::write(&conf, settings.join("\n") + "\n").unwrap();
    let child = launch
        .arg(bin)
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    Ok(Started(child))
}
