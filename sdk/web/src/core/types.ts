/** Wire shapes of the client API (see docs/inapp.md); the server is the source of truth. */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Props = Record<string, unknown>;

export interface Action {
  type: "close" | "open_url" | "deep_link" | "next" | "previous" | "submit" | "event";
  url?: string | null;
  event?: string | null;
}

export interface Button {
  id: string;
  label: string;
  action: Action;
  style?: "primary" | "secondary" | "link";
}

export interface Theme {
  background?: string | null;
  text?: string | null;
  accent?: string | null;
  font?: string | null;
  radius?: number | null;
  dark?: "auto" | "light" | "dark";
}

export interface Author {
  name: string;
  avatar_url?: string | null;
}

export interface Common {
  theme?: Theme | null;
  author?: Author | null;
  direction?: "auto" | "ltr" | "rtl";
}

export interface Page {
  title?: string | null;
  body?: string | null;
  image_url?: string | null;
  buttons?: Button[];
}

export interface PageMessage extends Common, Page {
  format: "modal" | "fullscreen" | "slideup";
}

export interface BannerMessage extends Common {
  format: "banner";
  position?: "top" | "bottom";
  body: string;
  buttons?: Button[];
  dismissible?: boolean;
}

export interface HtmlMessage extends Common {
  format: "html";
  html: string;
  height?: number;
}

export interface CarouselMessage extends Common {
  format: "carousel";
  pages: Page[];
}

export interface TourStep {
  anchor: { selector?: string | null; screen?: string | null };
  placement?: "top" | "bottom" | "left" | "right" | "center";
  title?: string | null;
  body: string;
}

export interface TourMessage extends Common {
  format: "tour";
  steps: TourStep[];
  show_progress?: boolean;
}

export interface Question {
  id: string;
  kind: "nps" | "rating" | "single_choice" | "multi_choice" | "text";
  prompt: string;
  options?: string[];
  scale?: number;
  required?: boolean;
}

export interface SurveyMessage extends Common {
  format: "survey";
  title?: string | null;
  questions: Question[];
  thank_you?: { title?: string | null; body?: string | null } | null;
}

export interface PostMessage extends Common {
  format: "post";
  title: string;
  body?: string | null;
  image_url?: string | null;
  cta?: Button | null;
  pinned?: boolean;
  expires_at?: string | null;
}

export type Content =
  | PageMessage
  | BannerMessage
  | HtmlMessage
  | CarouselMessage
  | TourMessage
  | SurveyMessage
  | PostMessage;

export interface PropertyFilter {
  property: string;
  op: string;
  value?: unknown;
}

export interface Trigger {
  type: "session_start" | "event" | "page_view" | "screen_view" | "sdk_call";
  event?: string | null;
  where?: PropertyFilter[];
  url?: string | null;
  screen?: string | null;
  name?: string | null;
  delay_seconds?: number;
  only_on_pages?: string[];
}

export interface DecidedMessage {
  campaign_id: number;
  variant: string;
  occurrence: number;
  format: string;
  priority: number;
  exempt_from_budget: boolean;
  locale: string;
  trigger: Trigger;
  display: { delay_seconds: number; only_on_pages: string[]; blocking: boolean };
  content: Content;
  /** In the control group: report the exposure when the trigger fires, show nothing. */
  holdout?: boolean;
}

export interface BudgetState {
  max_inapp_per_session: number | null;
  max_per_day: number | null;
  min_gap_seconds: number;
  shown_this_session: number;
  shown_today: number;
  next_allowed_at: string | null;
}

export interface Decision {
  user_id: number | null;
  session_id: string;
  messages: DecidedMessage[];
  budget: BudgetState | null;
}

export interface InboxPost {
  campaign_id: number;
  variant: string;
  locale: string;
  pinned: boolean;
  read: boolean;
  created_at: string;
  content: PostMessage;
}

export interface Inbox {
  data: InboxPost[];
  unread: number;
  next_cursor: string | null;
}

export type InteractionType =
  | "impression"
  | "click"
  | "dismiss"
  | "answer"
  | "inbox_read"
  | "step_seen"
  | "tour_completed";

export interface Interaction {
  type: InteractionType;
  campaign_id: number;
  occurrence: number;
  button_id?: string;
  answers?: Record<string, unknown>;
  step?: number;
}

/** Who a request is about. */
export interface Identity {
  external_id?: string;
  anonymous_id?: string;
  user_hash?: string;
}
