"use client";

import { useQueryClient } from "@tanstack/react-query";
import { ActivityIcon } from "lucide-react";
import { useRouter } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";

import { ErrorNotice } from "@/components/error-notice";
import { Field } from "@/components/field";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { ApiError, api, unwrap } from "@/lib/api/client";

import { useSession } from "./hooks";
import { setSession } from "./session";

/** Only same-site paths: `?next=https://evil.example` must not become an open redirect. */
function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function loginError(error: unknown): Error {
  if (error instanceof ApiError) {
    if (error.code === "INVALID_CREDENTIALS") return new Error("Wrong e-mail or password.");
    if (error.status === 429) return new Error("Too many failed attempts. Wait a few minutes and try again.");
    if (error.status === 422) return new Error("Enter your e-mail and password.");
  }
  return error instanceof Error ? error : new Error("Sign-in failed.");
}

export function LoginForm() {
  const router = useRouter();
  const queryClient = useQueryClient();
  const session = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<Error | null>(null);

  // Read in the effect, not with useSearchParams: that would make the prerendered page
  // empty until the JavaScript ran, and the sign-in form is the first thing anyone sees.
  useEffect(() => {
    if (session) router.replace(safeNext(new URLSearchParams(window.location.search).get("next")));
  }, [session, router]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      const { data } = unwrap(await api.POST("/api/v1/auth/login", { body: { email: email.trim(), password } }));
      queryClient.clear();
      setSession({ accessToken: data.access_token, refreshToken: data.refresh_token, user: data.user });
    } catch (e) {
      setError(loginError(e));
      setPending(false);
    }
  }

  return (
    <div className="flex min-h-screen items-center justify-center bg-muted/40 px-4">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex items-center justify-center gap-2 text-lg font-semibold tracking-tight">
          <span className="flex size-8 items-center justify-center rounded-md bg-primary text-primary-foreground">
            <ActivityIcon className="size-4" />
          </span>
          Gito
        </div>
        <Card>
          <CardHeader className="pb-2">
            <CardTitle className="text-base">Sign in</CardTitle>
            <CardDescription>Use the e-mail and password your administrator gave you.</CardDescription>
          </CardHeader>
          <CardContent>
            <form className="grid gap-4" onSubmit={submit}>
              {error ? <ErrorNotice error={error} /> : null}
              <Field id="email" label="E-mail">
                <Input
                  id="email"
                  name="email"
                  type="email"
                  autoComplete="username"
                  autoFocus
                  required
                  value={email}
                  onChange={(e) => setEmail(e.target.value)}
                />
              </Field>
              <Field id="password" label="Password">
                <Input
                  id="password"
                  name="password"
                  type="password"
                  autoComplete="current-password"
                  required
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                />
              </Field>
              <Button type="submit" disabled={pending} className="w-full">
                {pending ? "Signing in…" : "Sign in"}
              </Button>
            </form>
          </CardContent>
        </Card>
      </div>
    </div>
  );
}
