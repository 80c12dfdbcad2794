// Client-side routes under /console/: the server answers index.html for each of them.
import { useEffect, useState } from 'preact/hooks';

export type Route = 'keys' | 'groups' | 'audit' | 'invite';

export function routeOf(pathname: string): Route {
  const rest = pathname.replace(/^\/console\/?/, '').replace(/\/$/, '');
  if (rest === 'groups' || rest === 'audit' || rest === 'invite') return rest;
  return 'keys';
}

export function hrefOf(route: Route): string {
  return route === 'keys' ? '/console/keys' : `/console/${route}`;
}

const listeners = new Set<() => void>();

export function navigate(route: Route, replace = false): void {
  const href = hrefOf(route);
  if (location.pathname !== href || location.hash) {
    if (replace) history.replaceState(null, '', href);
    else history.pushState(null, '', href);
  }
  listeners.forEach((l) => l());
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => routeOf(location.pathname));
  useEffect(() => {
    const update = () => setRoute(routeOf(location.pathname));
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}
