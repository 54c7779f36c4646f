export interface PageResponse {
  status: number;
  text: string;
  location: string | null;
  h1: string;
  headers: Headers;
}

const unescape = (v: string) => v.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The first post form on a page, as a browser reads it: where it posts and its hidden fields. */
export function firstForm(page: PageResponse): { action: string; hidden: Record<string, string> } {
  const match = /<form method="post" action="([^"]*)">([\s\S]*?)<\/form>/.exec(page.text);
  if (!match) throw new Error(`no form on the page "${page.h1}"`);
  const hidden: Record<string, string> = {};
  for (const [, name, value] of match[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) hidden[unescape(name)] = unescape(value);
  return { action: unescape(match[1]), hidden };
}

/**
 * A minimal browser for server-rendered pages: keeps cookies, reads the CSRF
 * field from the last form it saw, follows nothing by itself.
 */
export class PageClient {
  private cookies = new Map<string, string>();
  private csrf = '';

  constructor(
    private readonly baseUrl: string,
    private readonly headers: Record<string, string> = {},
    /** Where a request goes (e.g. the next of several API processes behind one public URL). */
    private readonly route: (url: string) => string = (url) => url,
  ) {}

  async get(url: string): Promise<PageResponse> {
    return this.request(url, { method: 'GET' });
  }

  async post(url: string, fields: Record<string, string>): Promise<PageResponse> {
    return this.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: this.csrf, ...fields }).toString(),
    });
  }

  /** Posts the page's form with these fields, as a person filling it in would. */
  async submit(page: PageResponse, fields: Record<string, string>): Promise<PageResponse> {
    const form = firstForm(page);
    return this.post(form.action, { ...form.hidden, ...fields });
  }

  /** Follows redirects within the service, as a browser would. */
  async follow(res: PageResponse): Promise<PageResponse> {
    let current = res;
    while (current.status >= 300 && current.status < 400 && current.location && this.isLocal(current.location)) current = await this.get(current.location);
    return current;
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  private isLocal(url: string): boolean {
    return url.startsWith('/') || url.startsWith(this.baseUrl);
  }

  private async request(url: string, init: RequestInit): Promise<PageResponse> {
    const full = url.startsWith('http') ? url : this.baseUrl + url;
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(this.route(full), {
      ...init,
      redirect: 'manual',
      headers: { ...this.headers, ...(init.headers as Record<string, string>), ...(cookie ? { Cookie: cookie } : {}) },
    });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const text = await res.text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(text);
    if (csrf) this.csrf = csrf[1];
    return { status: res.status, text, location: res.headers.get('location'), h1: /<h1>([^<]*)<\/h1>/.exec(text)?.[1] ?? '', headers: res.headers };
  }
}
