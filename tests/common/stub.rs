//! An OpenAI-compatible server on loopback that answers by a script: for injecting what a real
//! server will not do on demand (faults, chosen replies). Only loopback; every loop bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request the stub received.
#[derive(Clone)]
pub struct Seen {
    pub path: String,
    pub body: String,
    pub authorization: Option<String>,
    pub at: Instant,
}

/// How the stub answers one request.
pub enum Reply {
    /// A chat completion with this text.
    Text(String),
    /// An empty-bodied status, with a `Retry-After` in seconds.
    Status(u16, Option<u64>),
    /// Read the request, then say nothing until the test ends (at most 30 s).
    Hang,
    /// Read the request, then close the connection.
    Drop,
    /// Promise a long body, send its first bytes, close.
    Truncated,
    /// 200 with an HTML error page.
    NotJson,
}

/// Answers the model-stage requests (not the probe's) given the request and its index among them.
pub type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// An OpenAI-compatible server on loopback that answers by a script and records what it saw.
pub struct Stub {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    pub most_in_flight: Arc<AtomicUsize>,
    /// Answer a request for `n` choices with that many (a real server's `n`); off: one.
    pub offers_choices: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Stub {
    pub fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, most_in_flight) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let script: Arc<Script> = Arc::new(script);
        let work = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let offers_choices = Arc::new(AtomicBool::new(false));
        let accept = {
            let (seen, stop, most_in_flight) = (Arc::clone(&seen), Arc::clone(&stop), Arc::clone(&most_in_flight));
            let choices = Arc::clone(&offers_choices);
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let choices = choices.load(Ordering::Relaxed);
                            let (seen, stop, script, work, in_flight, most) = (
                                Arc::clone(&seen),
                                Arc::clone(&stop),
                                Arc::clone(&script),
                                Arc::clone(&work),
                                Arc::clone(&in_flight),
                                Arc::clone(&most_in_flight),
                            );
                            std::thread::spawn(move || {
                                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                serve(stream, &seen, &stop, &*script, &work, choices);
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Stub { url, seen, most_in_flight, offers_choices, stop, accept: Some(accept) }
    }

    /// The model-stage requests seen so far (not the probe's, not `GET /models`).
    pub fn work(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|s| !is_probe(s)).cloned().collect()
    }

    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn is_probe(seen: &Seen) -> bool {
    seen.path != "/v1/chat/completions" || seen.body.contains("Reply with")
}

/// Serves one connection: one request, one answer, then close.
fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool, script: &Script, work: &AtomicUsize, choices: bool) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let (mut length, mut authorization) = (0, None);
    for _ in 0..100 {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or_default();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => authorization = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
    let request = Seen { path, body: String::from_utf8_lossy(&body).into_owned(), authorization, at: Instant::now() };
    seen.lock().unwrap().push(request.clone());
    let reply = match request.path.as_str() {
        "/v1/models" => Reply::Text(String::new()),
        "/v1/chat/completions" if is_probe(&request) => Reply::Text("ok".into()),
        "/v1/chat/completions" => script(&request, work.fetch_add(1, Ordering::SeqCst)),
        _ => Reply::Status(404, None),
    };
    let mut stream = stream;
    let respond = |stream: &mut TcpStream, status: u16, extra: &str, body: &str| {
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes()));
    };
    match reply {
        Reply::Text(_) if request.path == "/v1/models" => {
            respond(&mut stream, 200, "", r#"{"object":"list","data":[{"id":"stub-model","object":"model"}]}"#)
        }
        Reply::Text(text) => {
            let asked: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
            let n = if choices { asked["n"].as_u64().unwrap_or(1) } else { 1 };
            let choices: Vec<serde_json::Value> = (0..n)
                .map(|i| {
                    let content = if i == 0 { text.clone() } else { format!("{text} Choice {i}.") };
                    serde_json::json!({ "index": i, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" })
                })
                .collect();
            let body = serde_json::json!({
                "id": "stub", "object": "chat.completion", "model": "stub-model",
                "choices": choices,
                "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 },
            });
            respond(&mut stream, 200, "", &body.to_string());
        }
        Reply::Status(status, retry_after) => {
            respond(&mut stream, status, &retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default(), "{}")
        }
        Reply::Hang => {
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Reply::Drop => {}
        Reply::Truncated => {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"choices\": [{\"message\": {\"con",
            );
        }
        Reply::NotJson => {
            let page = "<html><body>502 Bad Gateway</body></html>";
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}", page.len());
        }
    }
}
