// eslint (flat config): the recommended JavaScript and TypeScript rules, type-aware for src/.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["out/**", "media/**", "node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["scripts/**/*.mjs"],
    languageOptions: { globals: { console: "readonly", URL: "readonly" } },
  },
  {
    rules: {
      eqeqeq: "error",
    },
  },
);
