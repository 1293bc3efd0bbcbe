-- nvim --headless -u NONE -i NONE -c "luafile provenance.lua": what a user of Neovim's built-in
-- LSP client sees. Starts roar-lsp on $ROAR_FILE, then, like a user:
--   K        vim.lsp.buf.hover() on ($ROAR_LINE, $ROAR_COL) → prints the floating window's lines
--   gd       vim.lsp.buf.definition()                      → prints the buffer it jumped to
--   codelens vim.lsp.codelens.refresh()                    → prints the lenses' titles
-- Each result is one "KEY: value" line on stdout; any failure exits non-zero (cquit).
-- Neovim 0.7 (Debian 12): vim.lsp.start_client + buf_attach_client (vim.lsp.start is 0.8+).
local function fail(msg) io.stderr:write(msg .. "\n") vim.cmd("cquit 1") end

local cmd = vim.split(vim.env.ROAR_LSP_CMD, " ")  -- paths must hold no spaces
vim.cmd("edit " .. vim.env.ROAR_FILE)
local buf = vim.api.nvim_get_current_buf()
local id = vim.lsp.start_client({ name = "roar", cmd = cmd, root_dir = vim.env.ROAR_ROOT })
vim.lsp.buf_attach_client(buf, id)
local client = vim.lsp.get_client_by_id(id)
if not vim.wait(20000, function() return client.initialized end, 50) then fail("LSP did not initialize") end

local function float_lines()
  for _, w in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(w).relative ~= "" then
      return vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(w), 0, -1, false)
    end
  end
end

-- K: hover in a floating window
vim.api.nvim_win_set_cursor(0, { tonumber(vim.env.ROAR_LINE), tonumber(vim.env.ROAR_COL) })
vim.lsp.buf.hover()
local lines
if not vim.wait(20000, function() lines = float_lines() return lines ~= nil end, 50) then fail("no hover window") end
io.stdout:write("HOVER: " .. table.concat(lines, "\\n") .. "\n")
for _, w in ipairs(vim.api.nvim_list_wins()) do
  if vim.api.nvim_win_get_config(w).relative ~= "" then vim.api.nvim_win_close(w, true) end
end

-- code lenses
vim.lsp.codelens.refresh()
local lenses
vim.wait(20000, function() lenses = vim.lsp.codelens.get(buf) return lenses and #lenses > 0 end, 50)
for _, lens in ipairs(lenses or {}) do
  io.stdout:write("LENS: " .. lens.range.start.line .. " " .. (lens.command and lens.command.title or "?") .. "\n")
end

-- gd: jump to the producing script
vim.api.nvim_win_set_cursor(0, { tonumber(vim.env.ROAR_LINE), tonumber(vim.env.ROAR_COL) })
vim.lsp.buf.definition()
if not vim.wait(20000, function() return vim.api.nvim_get_current_buf() ~= buf end, 50) then fail("definition did not jump") end
io.stdout:write("DEFINITION: " .. vim.api.nvim_buf_get_name(0) .. "\n")

vim.lsp.stop_client(id)
vim.cmd("qall!")
