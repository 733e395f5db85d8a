/** The SDK's stylesheet, scoped to its Shadow DOM; themes set the CSS variables. */

export const CSS = `
:host{all:initial;display:contents}
*,*::before,*::after{box-sizing:border-box}
.t{--t-bg:#ffffff;--t-fg:#111827;--t-muted:#4b5563;--t-line:#e5e7eb;--t-soft:#f3f4f6;--t-accent:#4f46e5;--t-on-accent:#ffffff;--t-radius:16px;
--t-font:ui-sans-serif,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Noto Sans","Vazirmatn",Tahoma,Arial,sans-serif;
font-family:var(--t-font);font-size:15px;line-height:1.5;color:var(--t-fg);letter-spacing:normal;text-align:start;font-weight:400;font-style:normal;text-transform:none;-webkit-font-smoothing:antialiased}
.t.dark{--t-bg:#1f2937;--t-fg:#f9fafb;--t-muted:#d1d5db;--t-line:#374151;--t-soft:#111827;--t-accent:#818cf8;--t-on-accent:#0b1020}
@media (prefers-color-scheme:dark){.t.auto{--t-bg:#1f2937;--t-fg:#f9fafb;--t-muted:#d1d5db;--t-line:#374151;--t-soft:#111827;--t-accent:#818cf8;--t-on-accent:#0b1020}}
.backdrop{position:fixed;inset:0;background:rgba(15,23,42,.55);backdrop-filter:blur(3px);-webkit-backdrop-filter:blur(3px);display:flex;align-items:center;justify-content:center;padding:16px;z-index:2147483600;animation:t-fade .18s ease-out}
.card{position:relative;background:var(--t-bg);color:var(--t-fg);border-radius:var(--t-radius);box-shadow:0 24px 64px rgba(15,23,42,.28),0 2px 8px rgba(15,23,42,.12);width:100%;max-width:440px;max-height:calc(100vh - 32px);overflow:auto;animation:t-pop .22s cubic-bezier(.2,.9,.3,1.2)}
.card.wide{max-width:520px}
.pad{padding:28px 28px 24px}
.media{display:block;width:100%;max-height:240px;object-fit:cover;border-radius:var(--t-radius) var(--t-radius) 0 0;background:var(--t-soft)}
.title{font-size:20px;line-height:1.3;font-weight:650;margin:0 0 8px;color:var(--t-fg)}
.body{margin:0;color:var(--t-muted);white-space:pre-line}
.author{display:flex;align-items:center;gap:10px;margin:0 0 14px;color:var(--t-muted);font-size:13px;font-weight:600}
.author img{width:28px;height:28px;border-radius:50%;object-fit:cover}
.actions{display:flex;flex-wrap:wrap;gap:10px;margin-top:22px}
.btn{font:inherit;font-weight:600;font-size:14px;border:0;border-radius:calc(var(--t-radius) * .6);padding:11px 18px;cursor:pointer;background:var(--t-accent);color:var(--t-on-accent);flex:1 1 auto;min-height:44px;transition:filter .15s,transform .15s}
.btn:hover{filter:brightness(1.08)}.btn:active{transform:translateY(1px)}
.btn.secondary{background:var(--t-soft);color:var(--t-fg);box-shadow:inset 0 0 0 1px var(--t-line)}
.btn.link{background:transparent;color:var(--t-accent);flex:0 0 auto;padding-inline:8px}
.btn:focus-visible,.x:focus-visible,.dot:focus-visible,.opt:focus-visible,.arrow:focus-visible,.post:focus-visible,.launcher:focus-visible{outline:2px solid var(--t-accent);outline-offset:2px}
.x{position:absolute;top:12px;inset-inline-end:12px;width:34px;height:34px;border-radius:50%;border:0;background:rgba(17,24,39,.06);color:var(--t-fg);font:inherit;font-size:20px;line-height:34px;text-align:center;cursor:pointer;z-index:2;padding:0}
.x:hover{background:rgba(17,24,39,.12)}
.media+.x,.x.on-media{background:rgba(255,255,255,.92);color:#111827;box-shadow:0 1px 4px rgba(0,0,0,.2)}
.dark .x,.x.light{background:rgba(255,255,255,.12);color:inherit}
.full{position:fixed;inset:0;z-index:2147483600;background:var(--t-bg);background-image:radial-gradient(1200px 600px at 50% -10%,color-mix(in srgb,var(--t-accent) 14%,transparent),transparent 70%);color:var(--t-fg);display:flex;align-items:center;justify-content:center;overflow:auto;animation:t-fade .2s ease-out}
.full .inner{max-width:560px;width:100%;padding:48px 28px;text-align:center}
.full .media{border-radius:var(--t-radius);max-height:320px;margin-bottom:28px}
.full .title{font-size:30px}.full .body{font-size:17px}
.full .actions{justify-content:center}.full .btn{flex:0 1 220px}
.slideup{position:fixed;bottom:20px;inset-inline-end:20px;z-index:2147483500;width:min(380px,calc(100vw - 32px));background:var(--t-bg);color:var(--t-fg);border-radius:var(--t-radius);box-shadow:0 18px 48px rgba(15,23,42,.22),0 1px 3px rgba(15,23,42,.12);display:flex;gap:14px;padding:18px 48px 18px 18px;animation:t-up .25s ease-out;border:1px solid var(--t-line)}
[dir=rtl] .slideup,.slideup[dir=rtl]{padding:18px 18px 18px 48px}
.slideup .thumb{width:56px;height:56px;border-radius:12px;object-fit:cover;flex:none}
.slideup .title{font-size:16px;margin-bottom:4px}.slideup .body{font-size:14px}
.slideup .actions{margin-top:12px}.slideup .btn{min-height:36px;padding:8px 14px;flex:0 0 auto}
.slideup .x{top:10px;width:28px;height:28px;line-height:28px;font-size:17px}
.banner{position:fixed;left:0;right:0;z-index:2147483550;display:flex;align-items:center;gap:14px;padding:12px 56px 12px 20px;background:var(--t-accent);color:var(--t-on-accent);box-shadow:0 4px 18px rgba(15,23,42,.18);animation:t-down .25s ease-out}
[dir=rtl].banner{padding:12px 20px 12px 56px}
.banner.top{top:0}.banner.bottom{bottom:0}
.banner .body{color:inherit;flex:1;font-weight:500}
.banner .btn{flex:0 0 auto;min-height:34px;padding:7px 14px;background:var(--t-on-accent);color:var(--t-accent)}
.banner .btn.secondary,.banner .btn.link{background:transparent;color:inherit;box-shadow:inset 0 0 0 1px currentColor}
.banner .x{top:50%;transform:translateY(-50%);background:rgba(255,255,255,.18);color:inherit;width:30px;height:30px;line-height:30px;font-size:18px}
.banner .avatar{width:28px;height:28px;border-radius:50%}
.frame{display:block;width:100%;border:0;border-radius:var(--t-radius);background:#fff}
.slides{overflow:hidden;border-radius:var(--t-radius) var(--t-radius) 0 0}
.track{display:flex;transition:transform .35s cubic-bezier(.3,.8,.3,1)}
.slide{flex:0 0 100%;min-width:0}
.slide .media{border-radius:0}
.nav{display:flex;align-items:center;justify-content:space-between;gap:12px;padding:0 28px 22px}
.dots{display:flex;gap:8px;justify-content:center;flex:1}
.dot{width:8px;height:8px;border-radius:99px;border:0;padding:0;background:var(--t-line);cursor:pointer;transition:width .2s,background .2s}
.dot[aria-current=true]{width:24px;background:var(--t-accent)}
.arrow{width:40px;height:40px;border-radius:50%;border:1px solid var(--t-line);background:var(--t-bg);color:var(--t-fg);font:inherit;font-size:18px;cursor:pointer;display:flex;align-items:center;justify-content:center}
.arrow:disabled{opacity:.35;cursor:default}
[dir=rtl] .arrow{transform:scaleX(-1)}
.spot{position:fixed;z-index:2147483590;border-radius:10px;box-shadow:0 0 0 4px var(--t-accent),0 0 0 9999px rgba(15,23,42,.55);pointer-events:none;transition:all .25s ease}
.tip{position:fixed;z-index:2147483600;width:min(340px,calc(100vw - 24px));background:var(--t-bg);color:var(--t-fg);border-radius:var(--t-radius);box-shadow:0 18px 48px rgba(15,23,42,.3);padding:20px 20px 16px;animation:t-fade .2s}
.tip .title{font-size:17px;margin-bottom:6px}.tip .body{font-size:14px}
.tip .actions{margin-top:16px;align-items:center}.tip .btn{flex:0 0 auto;min-height:36px;padding:8px 14px}
.tip .progress{font-size:12px;color:var(--t-muted);margin-inline-end:auto;font-weight:600}
.tip .x{top:10px;width:28px;height:28px;line-height:28px;font-size:17px}
.q{margin:0 0 22px;border:0;padding:0}
.q legend{font-weight:600;margin-bottom:10px;padding:0;color:var(--t-fg)}
.scale{display:flex;gap:6px;flex-wrap:wrap}
.scale.nps{display:grid;grid-template-columns:repeat(11,minmax(0,1fr));gap:4px}
.scale.nps .opt{min-width:0;padding:0;font-size:13px}
.opt{font:inherit;min-width:38px;height:38px;border-radius:10px;border:1px solid var(--t-line);background:var(--t-bg);color:var(--t-fg);cursor:pointer;font-weight:600;font-size:14px;flex:1 0 auto}
.opt[aria-pressed=true]{background:var(--t-accent);border-color:var(--t-accent);color:var(--t-on-accent)}
.ends{display:flex;justify-content:space-between;font-size:12px;color:var(--t-muted);margin-top:6px}
.choice{display:flex;align-items:center;gap:10px;padding:10px 12px;border:1px solid var(--t-line);border-radius:10px;margin-bottom:8px;cursor:pointer}
.choice input{accent-color:var(--t-accent);width:18px;height:18px;margin:0}
textarea{font:inherit;width:100%;min-height:90px;border:1px solid var(--t-line);border-radius:10px;padding:10px 12px;background:var(--t-bg);color:var(--t-fg);resize:vertical}
.err{color:#dc2626;font-size:13px;margin-top:6px;font-weight:500}
.thanks{text-align:center;padding:16px 0 4px}
.thanks .check{width:56px;height:56px;border-radius:50%;background:var(--t-accent);color:var(--t-on-accent);display:flex;align-items:center;justify-content:center;font-size:28px;margin:0 auto 16px}
.drawer{position:fixed;top:0;bottom:0;inset-inline-end:0;width:min(400px,100vw);z-index:2147483600;background:var(--t-bg);color:var(--t-fg);box-shadow:-12px 0 40px rgba(15,23,42,.25);display:flex;flex-direction:column;animation:t-side .25s ease-out}
.drawer header{display:flex;align-items:center;gap:10px;padding:20px 64px 16px 22px;border-bottom:1px solid var(--t-line)}
[dir=rtl] .drawer header,.drawer[dir=rtl] header{padding:20px 22px 16px 64px}
.drawer h2{font-size:18px;margin:0;font-weight:650}
.count{background:var(--t-accent);color:var(--t-on-accent);border-radius:99px;font-size:12px;font-weight:700;padding:2px 8px}
.list{overflow:auto;flex:1;padding:8px 0;margin:0;list-style:none}
.post{position:relative;padding:16px 22px;border-bottom:1px solid var(--t-line);cursor:pointer}
.post:hover{background:var(--t-soft)}
.post .title{font-size:15px;margin-bottom:4px}.post .body{font-size:14px}
.post .media{border-radius:10px;max-height:160px;margin-bottom:10px}
.post.unread::before{content:"";position:absolute;top:22px;inset-inline-start:8px;width:8px;height:8px;border-radius:50%;background:var(--t-accent)}
.post .meta{font-size:12px;color:var(--t-muted);margin-top:6px}
.pin{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.04em;color:var(--t-accent);margin-bottom:4px}
.post .btn{margin-top:10px;min-height:34px;padding:7px 14px;flex:none}
.empty{padding:48px 22px;text-align:center;color:var(--t-muted)}
.launcher{position:fixed;bottom:20px;inset-inline-start:20px;z-index:2147483400;width:52px;height:52px;border-radius:50%;border:0;background:var(--t-accent);color:var(--t-on-accent);box-shadow:0 10px 28px rgba(15,23,42,.3);cursor:pointer;display:flex;align-items:center;justify-content:center}
.launcher svg{width:24px;height:24px}
.badge{position:absolute;top:-2px;inset-inline-end:-2px;min-width:20px;height:20px;border-radius:99px;background:#ef4444;color:#fff;font-size:12px;font-weight:700;line-height:20px;padding:0 5px;border:2px solid #fff}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@keyframes t-fade{from{opacity:0}}
@keyframes t-pop{from{opacity:0;transform:translateY(12px) scale(.97)}}
@keyframes t-up{from{opacity:0;transform:translateY(24px)}}
@keyframes t-down{from{opacity:0;transform:translateY(-100%)}}
@keyframes t-side{from{transform:translateX(100%)}}
@media (prefers-reduced-motion:reduce){*,*::before,*::after{animation:none!important;transition:none!important;scroll-behavior:auto!important}}
@media (max-width:520px){.pad{padding:24px 20px 20px}.banner{padding-inline-start:14px}.title{font-size:18px}}
`;
