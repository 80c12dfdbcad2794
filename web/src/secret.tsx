// A token shown once. It lives only in the state of the component that got it from the
// API (NewKeyDialog, KeyPanel), which drops it (sets it to null) when this is closed.
import { useEffect, useId, useRef, useState } from 'preact/hooks';

interface Props {
  token: string;
  onDone: () => void;
}

export function ShownOnce({ token, onDone }: Props) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle');

  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);

  const onCopy = async () => {
    try {
      await navigator.clipboard.writeText(token);
      setCopy('copied');
    } catch {
      setCopy('failed');
    }
  };

  return (
    <div class="secret">
      <p class="warning">
        Copy the key now. It is shown this once and cannot be shown again.
      </p>
      <label for={id}>API key</label>
      <div class="row">
        <input
          id={id}
          ref={input}
          class="token"
          type="text"
          readOnly
          value={token}
          spellcheck={false}
          autoComplete="off"
        />
        <button type="button" onClick={onCopy}>
          Copy
        </button>
      </div>
      <p role="status" class="hint">
        {copy === 'copied' ? 'Copied' : copy === 'failed' ? 'Copying failed; select the key and copy it.' : ''}
      </p>
      <div class="actions">
        <button type="button" class="primary" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}
