package main

import (
	"bytes"
	"context"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is one person's browser: its own cookies and storage.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go
}

// newBrowsers starts headless Chromium (Debian's chromium) and returns n
// isolated browser contexts in it.
func newBrowsers(t *testing.T, n int) []*browser {
	path := needTool(t, "chromium", "apt-get install -y chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 800))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil { // on root itself, as for the targets below
		t.Fatalf("start chromium: %v", err)
	}
	shots := os.Getenv("CHATBUS_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	var out []*browser
	for range n {
		ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		// Create the target on ctx itself: a target made under a derived
		// context (with a timeout) goes away when that context ends.
		if err := chromedp.Do(ctx); err != nil {
			t.Fatalf("open a browser context: %v", err)
		}
		out = append(out, &browser{t: t, ctx: ctx, dir: shots})
	}
	return out
}

// do runs actions with a time limit, failing the test with what it was doing.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) eval(js string) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until js is true in the page.
func (b *browser) waitJS(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !b.eval(js) {
		if time.Now().After(deadline) {
			b.screenshot("timeout-" + strings.ReplaceAll(what, " ", "-"))
			b.t.Fatalf("waited 15s for %s (%s)", what, js)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot saves the page as a PNG and returns its path, after looking
// at it: a page that rendered is not blank (one colour, or nearly).
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	colours := map[color.Color]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 4 {
		for x := r.Min.X; x < r.Max.X; x += 4 {
			colours[img.At(x, y)] = true
		}
	}
	if r.Dx() < 300 || r.Dy() < 300 || len(colours) < 20 {
		b.t.Errorf("screenshot %s looks blank: %dx%d, %d colours", path, r.Dx(), r.Dy(), len(colours))
	}
	b.t.Logf("screenshot %s: %dx%d", path, r.Dx(), r.Dy())
	return path
}

// visible is the JavaScript test that an element is shown.
func visible(sel string) string {
	return `(() => { const e = document.querySelector(` + jsString(sel) + `); return !!e && e.offsetParent !== null && e.getClientRects().length > 0 })()`
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// signUp goes through the sign-up form, which logs in after it, and checks
// that the login's loading state showed until the answer came.
func (b *browser) signUp(url, id, name, pw string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
	b.waitJS("the login page", visible("#login-form"))
	b.eval(`window.sawLoading = false; new MutationObserver(() => { if (!document.getElementById('loading').hidden) window.sawLoading = true })
		.observe(document.getElementById('loading'), {attributes: true}); true`)
	b.do("fill the sign-up form",
		chromedp.Click(chromedp.CSS("#tab-signup")),
		chromedp.SendKeys(chromedp.CSS("#signup-form [name=userId]"), id),
		chromedp.SendKeys(chromedp.CSS("#signup-form [name=userName]"), name),
		chromedp.SendKeys(chromedp.CSS("#signup-form [name=email]"), id+"@example.com"),
		chromedp.SendKeys(chromedp.CSS("#signup-form [name=userPw]"), pw),
		chromedp.Click(chromedp.CSS("#signup-form button[type=submit]")),
	)
	b.waitJS(id+"'s messenger", visible("#app")+` && !`+visible("#auth"))
	if !b.eval(`window.sawLoading`) {
		b.t.Errorf("%s: the loading state never showed during login", id)
	}
}

// TestBrowserJourney drives the whole messenger in headless Chromium for two
// people, over the real program (broker, backend and gateway through
// Kafka): sign up, log in, add a friend, set a status, open a room, chat
// both ways, log out; hostile text in a name, a status and a message is
// shown as text and never runs.
func TestBrowserJourney(t *testing.T) {
	p := startRun(t, t.TempDir())
	bs := newBrowsers(t, 2)
	alice, bob := bs[0], bs[1]
	const xss = `<img src=x onerror="window.pwned=1">`

	alice.signUp(p.web, "alice", "Alice", "alice-password")
	bob.signUp(p.web, "bob", "Bob "+xss, "bob-password")

	// Bob sets a status message; Alice adds Bob and sees it.
	bob.do("set a status",
		chromedp.Click(chromedp.CSS("#me-status")),
		chromedp.SendKeys(chromedp.CSS("#status-form [name=userStatus]"), "at work "+xss),
		chromedp.Click(chromedp.CSS("#status-form button")),
	)
	bob.waitJS("the new status", `document.getElementById('me-status').textContent.startsWith('at work')`)
	alice.do("add bob",
		chromedp.Click(chromedp.CSS("#tab-friends")),
		chromedp.SendKeys(chromedp.CSS("#friend-form [name=friendId]"), "bob"),
		chromedp.Click(chromedp.CSS("#friend-form button")),
	)
	alice.waitJS("bob on the friend list", `document.querySelectorAll('#friends li').length === 1`)
	// Bob's friend list is his own (friendship is one-way), but he is told,
	// at once, and adds Alice back from the notice.
	bob.waitJS("the notice to bob", visible("#notice")+` && document.getElementById('notice-text').textContent.startsWith('Alice (alice) added you')`)
	// User text is isolated: a name and an id are each a <bdi> of their own.
	bob.waitJS("names and ids isolated", `[...document.querySelectorAll('#notice-text bdi')].map(e => e.textContent).join('|') === 'Alice|alice' && `+
		`[...document.querySelectorAll('#me-name bdi')].map(e => e.textContent).join('|') === 'Bob '+`+"`"+xss+"`"+`+'|bob'`)
	bob.do("add alice back", chromedp.Click(chromedp.CSS("#notice-action")))
	bob.waitJS("alice on bob's list", `document.querySelectorAll('#friends li').length === 1`)
	if got := alice.text("#friends li .sub"); got != "at work "+xss {
		t.Errorf("bob's status as alice sees it: %q", got)
	}
	if got := alice.text("#friends li .name"); got != "Bob "+xss {
		t.Errorf("bob's name as alice sees it: %q", got)
	}
	alice.screenshot("alice-friends")

	// Alice opens the room and says hello, with a hostile message too.
	alice.do("open a room with bob", chromedp.Click(chromedp.CSS("#friends li button")))
	alice.waitJS("the chat view", visible("#send-form"))
	for _, msg := range []string{"hello bob!", xss} {
		alice.do("send "+msg,
			chromedp.SendKeys(chromedp.CSS("#send-form textarea"), msg),
			chromedp.Click(chromedp.CSS("#send-form button")),
		)
	}
	alice.waitJS("both messages", `document.querySelectorAll('#messages .msg.mine').length === 2`)
	alice.waitJS("messages isolated", `[...document.querySelectorAll('#messages .bubble')].every(e => e.dir === 'auto')`)
	// Bob has not read them: each shows KakaoTalk's "1".
	alice.waitJS("unread by bob", `[...document.querySelectorAll('#messages .msg.mine .unread-count')].every(e => !e.hidden && e.textContent === '1')`)

	// Bob's room list shows the new room without a reload (a push); he
	// reads both messages and answers; Alice sees the answer at once.
	bob.waitJS("the room in bob's list", `document.querySelectorAll('#rooms li').length === 1`)
	bob.waitJS("bob's unread badge", `document.querySelector('#rooms li .badge')?.textContent === '2'`)
	bob.do("open the room", chromedp.Click(chromedp.CSS("#rooms li")))
	bob.waitJS("alice's messages", `document.querySelectorAll('#messages .msg').length === 2`)
	bob.waitJS("no badge on the open room", `document.querySelector('#rooms li .badge') === null`)
	// Bob's window shows them, so they are read: Alice's "1"s go, live.
	alice.waitJS("read by bob", `[...document.querySelectorAll('#messages .msg.mine .unread-count')].every(e => e.hidden)`)
	if got := bob.text("#messages .msg:last-child .bubble"); got != xss {
		t.Errorf("the hostile message as bob sees it: %q", got)
	}
	bob.do("answer",
		chromedp.SendKeys(chromedp.CSS("#send-form textarea"), "hi alice"),
		chromedp.Click(chromedp.CSS("#send-form button")),
	)
	alice.waitJS("bob's answer", `[...document.querySelectorAll('#messages .msg:not(.mine) .bubble')].some(e => e.textContent === 'hi alice')`)
	bob.waitJS("the answer read by alice", `document.querySelector('#messages .msg.mine:last-child .unread-count').hidden`)

	// Alice steps back to her list; Bob's next message stays unread ("1",
	// and a badge on her list) until her window shows it.
	// (#back shows on a phone only; the desktop list is beside the chat.)
	alice.eval(`document.getElementById('back').click(), true`)
	alice.waitJS("alice out of the room", `!document.getElementById('app').classList.contains('in-room')`)
	bob.do("ask",
		chromedp.SendKeys(chromedp.CSS("#send-form textarea"), "are you there?"),
		chromedp.Click(chromedp.CSS("#send-form button")),
	)
	bob.waitJS("bob's question unread", `document.querySelector('#messages .msg.mine:last-child .unread-count').textContent === '1'`)
	alice.waitJS("alice's unread badge", `document.querySelector('#rooms li .badge')?.textContent === '1'`)
	bob.screenshot("bob-unread")
	alice.screenshot("alice-badge")
	if got := bob.text("#messages .msg.mine:last-child .unread-count"); got != "1" {
		t.Errorf("bob's question before alice looks: unread %q, want 1", got)
	}
	alice.do("open the room again", chromedp.Click(chromedp.CSS("#rooms li")))
	alice.waitJS("bob's question", `[...document.querySelectorAll('#messages .msg:not(.mine) .bubble')].some(e => e.textContent === 'are you there?')`)
	bob.waitJS("the question read by alice", `document.querySelector('#messages .msg.mine:last-child .unread-count').hidden`)
	alice.waitJS("no badge on alice's open room", `document.querySelector('#rooms li .badge') === null`)
	alice.screenshot("alice-chat")
	bob.screenshot("bob-chat")

	for _, b := range bs {
		if b.eval(`window.pwned === 1`) {
			t.Fatal("hostile text ran as code")
		}
	}

	// A phone-sized window shows the chat alone, with a way back.
	bob.do("phone size", chromedp.EmulateViewport(390, 844))
	bob.waitJS("the chat on a phone", visible("#chat")+` && !`+visible("#side")+` && `+visible("#back"))
	bob.screenshot("bob-phone")
	bob.do("back to the list", chromedp.Click(chromedp.CSS("#back")))
	bob.waitJS("the list on a phone", visible("#side"))
	bob.do("desktop size", chromedp.EmulateViewport(1200, 800))

	// Log out: back to the login page, and the session is gone.
	alice.do("log out", chromedp.Click(chromedp.CSS("#logout")))
	alice.waitJS("the login page", visible("#login-form"))
	alice.do("reload", chromedp.Reload())
	alice.waitJS("still logged out", visible("#login-form"))
}
