/** An error in words, next to the control that caused it; nothing when there is none. */
export function Alert({ text }: { text: string | null }) {
  if (!text) return null;
  return (
    <p role="alert" class="error">
      {text}
    </p>
  );
}
